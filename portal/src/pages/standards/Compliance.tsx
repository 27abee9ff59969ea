// Compliance per tenant and standard, as found by each tenant's last run.
import { Badge, Field, Select, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { StandardsLinks, useStandards, useTenants } from "./bits";
import { strings } from "./strings";

type Row = Schemas["ComplianceRow"];

const useStyles = makeStyles({
  filters: { display: "flex", gap: tokens.spacingHorizontalL, flexWrap: "wrap" },
});

export function Compliance() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const tenants = useTenants();
  const standards = useStandards();
  const [tenantId, setTenantId] = useState("");
  const [standardId, setStandardId] = useState("");
  return (
    <PageFrame title={t("complianceTitle")} description={t("complianceDescription")} actions={<StandardsLinks />}>
      <div className={styles.filters}>
        <Field label={t("tenant")}>
          <Select value={tenantId} onChange={(_, data) => setTenantId(data.value)}>
            <option value="">{t("allTenants")}</option>
            {tenants.items.map((tenant) => (
              <option key={tenant.id} value={tenant.id}>
                {tenant.displayName}
              </option>
            ))}
          </Select>
        </Field>
        <Field label={t("standard")}>
          <Select value={standardId} onChange={(_, data) => setStandardId(data.value)}>
            <option value="">{t("allStandards")}</option>
            {standards.items.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </Select>
        </Field>
      </div>
      <PagedTable<Row>
        label={t("complianceLabel")}
        rowKey={(row) => `${row.tenantId}/${row.standardId}`}
        empty={t("complianceEmpty")}
        resetOn={[partnerId, tenantId, standardId]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/compliance", {
              params: {
                path: { partnerId },
                query: { continuationToken, tenantId: tenantId || undefined, standardId: standardId || undefined },
              },
            }),
          )
        }
        columns={[
          {
            key: "tenant",
            header: t("tenant"),
            cell: (row) => <RouteLink to={`/tenants/${row.tenantId}`}>{tenants.nameOf(row.tenantId)}</RouteLink>,
          },
          {
            key: "standard",
            header: t("standard"),
            cell: (row) => `${standards.nameOf(row.standardId)} (${t("version")} ${row.version})`,
          },
          {
            key: "compliant",
            header: t("compliant"),
            cell: (row) => (
              <Badge appearance="tint" color={row.compliant ? "success" : "danger"}>
                {row.compliant ? t("yes") : t("no")}
              </Badge>
            ),
          },
          { key: "passed", header: t("passed"), cell: (row) => row.passed },
          { key: "failed", header: t("failed"), cell: (row) => row.failed },
          { key: "failing", header: t("failing"), cell: (row) => row.failing.join(", ") },
          { key: "mode", header: t("mode"), cell: (row) => t(`mode.${row.mode}`) },
          { key: "checked", header: t("checkedAt"), cell: (row) => format.dateTime(row.checkedAt) },
        ]}
      />
    </PageFrame>
  );
}
