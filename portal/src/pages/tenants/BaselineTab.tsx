// The tenant's baseline: each check's result as evaluated after its last sync.
import { Badge, Spinner, Text } from "@fluentui/react-components";
import { ApiProblem, api, call, type Schemas } from "../../api/client";
import { EmptyState } from "../../components/EmptyState";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Section } from "./Section";
import { SimpleTable } from "./SimpleTable";
import { strings } from "./strings";

const colour = { pass: "success", fail: "danger", notAvailable: "informative", off: "subtle" } as const;

export function BaselineTab({ tenant }: { tenant: Schemas["TenantOut"] }) {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const baseline = useLoad(
    () =>
      call(
        api.GET("/api/partners/{partnerId}/tenants/{tenantId}/baseline", {
          params: { path: { partnerId, tenantId: tenant.id } },
        }),
      ),
    [partnerId, tenant.id, tenant.lastSuccessfulSyncAt],
  );
  if (tenant.access.state === "pendingProof") return <EmptyState>{t("notProvenYet")}</EmptyState>;
  const data = baseline.data;
  const none = (baseline.error instanceof ApiProblem && baseline.error.status === 404) || (data && !data.evaluatedAt);
  return (
    <Section title={t("baselineTitle")}>
      {baseline.loading && !data ? <Spinner size="small" label={t("baselineTitle")} /> : null}
      {none ? <EmptyState>{t("baselineNone")}</EmptyState> : null}
      {baseline.error && !none ? <Problem error={baseline.error} /> : null}
      {data && data.evaluatedAt ? (
        <>
          <Text>
            {t("baselineSummary", {
              passed: format.number(data.passed ?? 0),
              failed: format.number(data.failed ?? 0),
              at: format.dateTime(data.evaluatedAt),
            })}
          </Text>
          <SimpleTable
            label={t("baselineLabel")}
            headers={[t("check"), t("checkState"), t("detail")]}
            rows={(data.checks ?? []).map((check) => [
              check.id,
              check.title,
              <Badge appearance="tint" color={colour[check.state]}>
                {t(`check.${check.state}`)}
              </Badge>,
              check.detail,
            ])}
          />
        </>
      ) : null}
    </Section>
  );
}
