// The audit log's filters: time range, actor, action and tenant, applied together when the form is sent.
import { Button, Field, Input, Select, makeStyles, tokens } from "@fluentui/react-components";
import { useState, type FormEvent } from "react";
import { api, call } from "../../api/client";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";
import { TimeRange, rangeProblem, type Range } from "./TimeRange";

export type Filters = Range & { actor: string; action: string; tenantId: string };
export const NO_FILTERS: Filters = { from: "", to: "", actor: "", action: "", tenantId: "" };

const useStyles = makeStyles({
  form: {
    display: "grid",
    gridTemplateColumns: "repeat(auto-fit, minmax(14rem, 1fr))",
    gap: tokens.spacingHorizontalM,
    alignItems: "end",
  },
  buttons: { display: "flex", gap: tokens.spacingHorizontalS },
});

/** The partner's tenants (those the person reaches) for the tenant filter; also names tenants in the log. */
export function useTenantNames() {
  const { partnerId } = useSession();
  return useLoad(
    async () =>
      // One page of the largest size: a filter list, not a listing (the tenants page pages through them all).
      (
        await call(
          api.GET("/api/partners/{partnerId}/tenants", { params: { path: { partnerId }, query: { top: 1000 } } }),
        )
      ).items.map((tenant) => ({ id: tenant.id.toLowerCase(), name: tenant.displayName })),
    [partnerId],
  );
}

type Props = {
  applied: Filters;
  tenants: { id: string; name: string }[];
  onApply: (filters: Filters) => void;
};

export function EventFilters({ applied, tenants, onApply }: Props) {
  const t = useStrings(strings);
  const styles = useStyles();
  const [draft, setDraft] = useState<Filters>(applied);
  const set = (change: Partial<Filters>) => setDraft((before) => ({ ...before, ...change }));
  const apply = (event: FormEvent) => {
    event.preventDefault();
    if (rangeProblem(draft)) return;
    onApply({ ...draft, actor: draft.actor.trim(), action: draft.action.trim() });
  };
  return (
    <form className={styles.form} onSubmit={apply} aria-label={t("filters")} noValidate>
      <TimeRange range={draft} onChange={(range) => set(range)} />
      <Field label={t("actor")} hint={t("actorHint")}>
        <Input value={draft.actor} maxLength={64} onChange={(_, data) => set({ actor: data.value })} />
      </Field>
      <Field label={t("action")} hint={t("actionHint")}>
        <Input value={draft.action} maxLength={100} onChange={(_, data) => set({ action: data.value })} />
      </Field>
      <Field label={t("tenant")}>
        <Select value={draft.tenantId} onChange={(_, data) => set({ tenantId: data.value })}>
          <option value="">{t("allTenants")}</option>
          {tenants.map((tenant) => (
            <option key={tenant.id} value={tenant.id}>
              {tenant.name}
            </option>
          ))}
        </Select>
      </Field>
      <div className={styles.buttons}>
        <Button type="submit" appearance="primary">
          {t("apply")}
        </Button>
        <Button
          onClick={() => {
            setDraft(NO_FILTERS);
            onApply(NO_FILTERS);
          }}
        >
          {t("clear")}
        </Button>
      </div>
    </form>
  );
}
