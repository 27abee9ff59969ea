// Reports across the partner's tenants.
import { PageFrame } from "../../components/PageFrame";
import { RouteLink } from "../../components/RouteLink";
import { useStrings } from "../../i18n";
import { ReportTable } from "./ReportTable";
import { strings } from "./strings";

export function ReportsPage() {
  const t = useStrings(strings);
  return (
    <PageFrame title={t("title")} description={t("description")} actions={<RouteLink to="/reports/users">{t("searchLink")}</RouteLink>}>
      <ReportTable />
    </PageFrame>
  );
}
