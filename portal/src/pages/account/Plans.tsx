// The plans on offer, priced for this partner: change to one (pro-rated at once, or from the next cycle),
// or change the billing cycle.
import {
  Field,
  Select,
  Spinner,
  Subtitle2,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { Problem } from "../../components/Problem";
import type { Loaded } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { pendingWords } from "./Subscription";
import { cents } from "./money";
import { strings } from "./strings";

type Partner = Schemas["PartnerOut"];
type Cycle = Schemas["BillingCycle"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "60rem" },
  row: { display: "flex", gap: tokens.spacingHorizontalM, alignItems: "end", flexWrap: "wrap" },
});

export function Plans({
  partner,
  plans,
  onChanged,
}: {
  partner: Partner;
  plans: Loaded<Schemas["PlanList"]>;
  onChanged: () => void;
}) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const sub = partner.subscription;
  const [cycle, setCycle] = useState<Cycle>(sub.billingCycle === "monthly" ? "annual" : "monthly");
  const ended = sub.readOnly || sub.state === "terminated" || Boolean(sub.terminationEffectiveAt);

  /** What the API answered, in words: at once (with the pro-rated charge) or from the next cycle. */
  const outcome = (plan: string | null, after: Partner) => {
    const now = after.subscription;
    if (plan && now.plan === plan) {
      const charge = [...(now.adjustments ?? [])].reverse().find((a) => a.toPlan === plan);
      const currency = plans.data?.items[0]?.currency ?? "EUR";
      return charge
        ? t("changedNow", { plan, amount: cents(format, charge.amountCents, currency) })
        : t("changedDone");
    }
    if (now.pendingChange) {
      return t("changedLater", { what: pendingWords(t, now.pendingChange), at: format.date(now.pendingChange.effectiveAt) });
    }
    return t("changedDone");
  };

  const change = (body: Schemas["PlanChangeIn"]) =>
    call(api.POST("/api/partners/{partnerId}/subscription/plan-change", { params: { path: { partnerId } }, body }));

  return (
    <section className={styles.section} aria-labelledby="plans">
      <h2 id="plans">
        <Subtitle2>{t("plans")}</Subtitle2>
      </h2>
      <Text>{t("plansIntro")}</Text>
      {plans.error ? <Problem error={plans.error} /> : null}
      {plans.loading && !plans.data ? <Spinner size="small" label={t("plans")} /> : null}
      {plans.data ? (
        <Table aria-label={t("plansLabel")} size="small">
          <TableHeader>
            <TableRow>
              <TableHeaderCell>{t("plan")}</TableHeaderCell>
              <TableHeaderCell>{t("tenantLimit")}</TableHeaderCell>
              <TableHeaderCell>{t("monthly")}</TableHeaderCell>
              <TableHeaderCell>{t("annual")}</TableHeaderCell>
              <TableHeaderCell>{t("priceChange")}</TableHeaderCell>
              <TableHeaderCell>{t("what")}</TableHeaderCell>
            </TableRow>
          </TableHeader>
          <TableBody>
            {plans.data.items.map((plan) => (
              <TableRow key={plan.id}>
                <TableCell>{plan.displayName}</TableCell>
                <TableCell>{format.number(plan.tenantLimit)}</TableCell>
                <TableCell>{cents(format, plan.monthlyPriceCents, plan.currency)}</TableCell>
                <TableCell>{cents(format, plan.annualPriceCents, plan.currency)}</TableCell>
                <TableCell>
                  {plan.nextVersion && plan.nextVersionFrom
                    ? t("priceChangeText", {
                        monthly: cents(format, plan.nextVersion.monthlyPriceCents, plan.currency),
                        annual: cents(format, plan.nextVersion.annualPriceCents, plan.currency),
                        from: format.date(plan.nextVersionFrom),
                      })
                    : t("none")}
                </TableCell>
                <TableCell>
                  {plan.id === sub.plan ? (
                    <Text weight="semibold">{t("current")}</Text>
                  ) : (
                    <ActionButton
                      label={t("choose", { plan: plan.displayName })}
                      disabled={ended}
                      confirm={{
                        title: t("chooseTitle", { plan: plan.displayName }),
                        body: t("chooseBody", { plan: plan.displayName }),
                      }}
                      run={() => change({ plan: plan.id, billingCycle: null })}
                      done={(after) => outcome(plan.id, after)}
                      onDone={onChanged}
                    />
                  )}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      ) : null}
      <h3>
        <Text weight="semibold">{t("cycleTitle")}</Text>
      </h3>
      <Text>{t("cycleIntro")}</Text>
      <div className={styles.row}>
        <Field label={t("billingCycle")}>
          <Select value={cycle} onChange={(_, data) => setCycle(data.value as Cycle)}>
            <option value="monthly">{t("cycle.monthly")}</option>
            <option value="annual">{t("cycle.annual")}</option>
          </Select>
        </Field>
        <ActionButton
          label={t("cycleChange")}
          disabled={ended || cycle === sub.billingCycle}
          confirm={{
            title: t("cycleConfirmTitle", { cycle: t(`cycle.${cycle}`).toLowerCase() }),
            body: t("cycleConfirmBody", { at: format.date(sub.currentPeriodEnd) }),
          }}
          run={() => change({ plan: null, billingCycle: cycle })}
          done={(after) => outcome(null, after)}
          onDone={onChanged}
        />
      </div>
    </section>
  );
}
