// The partner's subscription: where it stands, the plans on offer, usage this month, and ending it.
import { Spinner, Subtitle2, Text, makeStyles, tokens } from "@fluentui/react-components";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Facts } from "../privacy/bits";
import { AccountLinks } from "./AccountLinks";
import { Plans } from "./Plans";
import { Unsubscribe } from "./Unsubscribe";
import { Usage } from "./Usage";
import { cents } from "./money";
import { strings } from "./strings";

type Partner = Schemas["PartnerOut"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "60rem" },
});

export function pendingWords(
  t: ReturnType<typeof useStrings<keyof typeof strings.en>>,
  change: NonNullable<Partner["subscription"]["pendingChange"]>,
): string {
  const parts = [change.plan, change.billingCycle ? t(`cycle.${change.billingCycle}`) : null].filter(Boolean);
  return parts.join(", ");
}

function Overview({ partner, currency }: { partner: Partner; currency: string }) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const sub = partner.subscription;
  return (
    <section className={styles.section} aria-labelledby="your-subscription">
      <h2 id="your-subscription">
        <Subtitle2>{t("yourSubscription")}</Subtitle2>
      </h2>
      <Facts
        rows={[
          [t("plan"), sub.plan],
          [t("state"), t(`state.${sub.state}`)],
          [t("billingCycle"), t(`cycle.${sub.billingCycle}`)],
          [t("tenantLimit"), format.number(sub.tenantLimit)],
          [t("currentPeriod"), t("period", { from: format.date(sub.currentPeriodStart), to: format.date(sub.currentPeriodEnd) })],
          [t("trialEnds"), sub.trialEndsAt ? format.date(sub.trialEndsAt) : null],
          [
            t("pendingChange"),
            sub.pendingChange
              ? t("pendingText", { what: pendingWords(t, sub.pendingChange), at: format.date(sub.pendingChange.effectiveAt) })
              : null,
          ],
          [t("endsAt"), sub.terminationEffectiveAt ? format.date(sub.terminationEffectiveAt) : null],
          [t("readOnly"), partner.subscription.readOnly ? t("readOnlyText") : null],
        ]}
      />
      {sub.adjustments && sub.adjustments.length > 0 ? (
        <>
          <h3>
            <Text weight="semibold">{t("adjustments")}</Text>
          </h3>
          <ul aria-label={t("adjustmentsLabel")}>
            {sub.adjustments.map((a) => (
              <li key={`${a.at}-${a.toPlan}`}>
                {format.date(a.at)}: {a.description} — {cents(format, a.amountCents, currency)}
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}

export function Subscription() {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const partner = useLoad(
    () => call(api.GET("/api/partners/{partnerId}", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const plans = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/plans", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const currency = plans.data?.items[0]?.currency ?? "EUR";
  return (
    <PageFrame title={t("title")} description={t("description")} actions={<AccountLinks />}>
      {partner.error ? <Problem error={partner.error} /> : null}
      {partner.loading && !partner.data ? <Spinner size="small" label={t("title")} /> : null}
      {partner.data ? (
        <>
          <Overview partner={partner.data} currency={currency} />
          <Plans partner={partner.data} plans={plans} onChanged={partner.reload} />
          <Usage />
          <Unsubscribe partner={partner.data} onEnded={partner.reload} />
        </>
      ) : null}
    </PageFrame>
  );
}
