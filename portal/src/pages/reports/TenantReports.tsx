// Reports of one tenant (linked from the cross-tenant report and from end-user search).
import { useParams } from "react-router";
import { api, call } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { ReportTable } from "./ReportTable";
import { strings } from "./strings";

export function TenantReports() {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const { tenantId = "" } = useParams();
  const tenant = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/tenants/{tenantId}", { params: { path: { partnerId, tenantId } } })),
    [partnerId, tenantId],
  );
  return (
    <PageFrame
      title={t("tenantTitle")}
      description={t("tenantDescription", { tenant: tenant.data?.displayName ?? tenantId })}
      actions={<RouteLink to="/reports">{t("allReports")}</RouteLink>}
    >
      <ReportTable tenantId={tenantId} />
    </PageFrame>
  );
}
