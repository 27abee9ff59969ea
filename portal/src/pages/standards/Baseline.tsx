// The partner's baseline: which checks run and their bounds, and each tenant's results.
import { Badge, Subtitle2 } from "@fluentui/react-components";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { BaselineSettingsForm } from "./BaselineSettingsForm";
import { StandardsLinks, useTenants } from "./bits";
import { strings } from "./strings";

type Result = Schemas["BaselineOut"];

export function Baseline() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const tenants = useTenants();
  return (
    <PageFrame title={t("baselineTitle")} description={t("baselineDescription")} actions={<StandardsLinks />}>
      <BaselineSettingsForm />
      <section aria-labelledby="baseline-results">
        <Subtitle2 as="h2" id="baseline-results">{t("baselineResults")}</Subtitle2>
        <PagedTable<Result>
          label={t("baselineResults")}
          rowKey={(row) => row.tenantId}
          empty={t("baselineEmpty")}
          resetOn={[partnerId]}
          load={(continuationToken) =>
            call(
              api.GET("/api/partners/{partnerId}/baseline", {
                params: { path: { partnerId }, query: { continuationToken } },
              }),
            )
          }
          columns={[
            {
              key: "tenant",
              header: t("tenant"),
              cell: (row) => (
                <RouteLink to={`/standards/baseline/${row.tenantId}`}>{tenants.nameOf(row.tenantId)}</RouteLink>
              ),
            },
            {
              key: "passed",
              header: t("passed"),
              cell: (row) => (
                <Badge appearance="tint" color="success">
                  {row.passed}
                </Badge>
              ),
            },
            {
              key: "failed",
              header: t("failed"),
              cell: (row) => (
                <Badge appearance="tint" color={row.failed > 0 ? "danger" : "informative"}>
                  {row.failed}
                </Badge>
              ),
            },
            { key: "evaluated", header: t("evaluatedAt"), cell: (row) => format.dateTime(row.evaluatedAt) },
          ]}
        />
      </section>
    </PageFrame>
  );
}
