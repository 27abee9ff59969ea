// One tenant's baseline checks as evaluated after its last sync.
import { Badge, Spinner, Table, TableBody, TableCell, TableHeader, TableHeaderCell, TableRow } from "@fluentui/react-components";
import { useParams } from "react-router";
import { api, call } from "../../api/client";
import { EmptyState } from "../../components/EmptyState";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { StandardsLinks, useTenants } from "./bits";
import { strings } from "./strings";

const colour = { pass: "success", fail: "danger", notAvailable: "informative", off: "subtle" } as const;

export function TenantBaseline() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const { tenantId = "" } = useParams();
  const tenants = useTenants();
  const baseline = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/tenants/{tenantId}/baseline", { params: { path: { partnerId, tenantId } } })),
    [partnerId, tenantId],
  );
  const data = baseline.data;
  const checks = data?.checks ?? [];
  return (
    <PageFrame
      title={t("tenantBaselineTitle", { tenant: tenants.nameOf(tenantId) })}
      description={data?.evaluatedAt ? `${t("evaluatedAt")}: ${format.dateTime(data.evaluatedAt)}` : undefined}
      actions={<StandardsLinks />}
    >
      {baseline.loading ? <Spinner size="small" /> : null}
      {baseline.error ? <Problem error={baseline.error} /> : null}
      {data && checks.length === 0 ? <EmptyState>{t("noChecks")}</EmptyState> : null}
      {data && checks.length > 0 ? (
        <Table aria-label={t("baselineTitle")} size="small">
          <TableHeader>
            <TableRow>
              <TableHeaderCell>{t("check")}</TableHeaderCell>
              <TableHeaderCell>{t("state")}</TableHeaderCell>
              <TableHeaderCell>{t("details")}</TableHeaderCell>
            </TableRow>
          </TableHeader>
          <TableBody>
            {checks.map((check) => (
              <TableRow key={check.id}>
                <TableCell>{check.title}</TableCell>
                <TableCell>
                  <Badge appearance="tint" color={colour[check.state]}>
                    {t(`checkState.${check.state}`)}
                  </Badge>
                </TableCell>
                <TableCell>{check.detail}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      ) : null}
    </PageFrame>
  );
}
