// One report as a paged table with filters and a CSV export: across the tenants, or of one tenant.
import { Field, Select, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, download, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import type { paths } from "../../api/schema";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { kinds, statuses, strings, type Kind } from "./strings";

type Row = Schemas["ReportRowOut"];
type Status = NonNullable<NonNullable<paths["/api/partners/{partnerId}/reports/{kind}"]["get"]["parameters"]["query"]>["status"]>;

const useStyles = makeStyles({
  filters: { display: "flex", gap: tokens.spacingHorizontalL, flexWrap: "wrap", alignItems: "end" },
  secondary: { display: "block", color: tokens.colorNeutralForeground2 },
});

function detailsText(details: unknown): string {
  if (!details || typeof details !== "object") return "";
  return Object.entries(details as Record<string, unknown>)
    .filter(([, value]) => value !== null && value !== undefined && typeof value !== "object")
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join(", ");
}

export function ReportTable({ tenantId }: { tenantId?: string }) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [kind, setKind] = useState<Kind>("mfaRegistration");
  const [status, setStatus] = useState("");
  const [tenantFilter, setTenantFilter] = useState("");
  const tenants = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/tenants", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const names = new Map((tenants.data?.items ?? []).map((tenant) => [tenant.id, tenant.displayName]));
  const nameOf = (id: string) => names.get(id) ?? id;
  const statusQuery = (status || undefined) as Status | undefined;
  const tenantQuery = tenantFilter || undefined;

  const exportCsv = async (): Promise<Blob> => {
    if (tenantId) {
      const csv: unknown = await call(
        api.GET("/api/partners/{partnerId}/tenants/{tenantId}/reports/{kind}/export", {
          params: { path: { partnerId, tenantId, kind }, query: { status: statusQuery } },
          parseAs: "blob",
        }),
      );
      return csv as Blob;
    }
    const csv: unknown = await call(
      api.GET("/api/partners/{partnerId}/reports/{kind}/export", {
        params: { path: { partnerId, kind }, query: { status: statusQuery, tenantId: tenantQuery } },
        parseAs: "blob",
      }),
    );
    return csv as Blob;
  };

  return (
    <>
      <div className={styles.filters}>
        <Field label={t("kind")}>
          <Select
            value={kind}
            onChange={(_, data) => {
              setKind(data.value as Kind);
              setStatus("");
            }}
          >
            {kinds.map((k) => (
              <option key={k} value={k}>
                {t(`kind.${k}`)}
              </option>
            ))}
          </Select>
        </Field>
        <Field label={t("status")}>
          <Select value={status} onChange={(_, data) => setStatus(data.value)}>
            <option value="">{t("allStatuses")}</option>
            {statuses[kind].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </Select>
        </Field>
        {tenantId ? null : (
          <Field label={t("tenant")}>
            <Select value={tenantFilter} onChange={(_, data) => setTenantFilter(data.value)}>
              <option value="">{t("allTenants")}</option>
              {(tenants.data?.items ?? []).map((tenant) => (
                <option key={tenant.id} value={tenant.id}>
                  {tenant.displayName}
                </option>
              ))}
            </Select>
          </Field>
        )}
        <ActionButton
          label={t("export")}
          run={exportCsv}
          onDone={(blob) => download(blob, `${kind}${tenantId ? `-${tenantId}` : ""}.csv`)}
          done={() => t("exported")}
        />
      </div>
      <PagedTable<Row>
        label={t("tableLabel", { kind: t(`kind.${kind}`) })}
        rowKey={(row) => `${row.tenantId}/${row.item}`}
        empty={t("empty")}
        resetOn={[partnerId, tenantId, kind, status, tenantFilter]}
        load={(continuationToken) =>
          tenantId
            ? call(
                api.GET("/api/partners/{partnerId}/tenants/{tenantId}/reports/{kind}", {
                  params: { path: { partnerId, tenantId, kind }, query: { continuationToken, status: statusQuery } },
                }),
              )
            : call(
                api.GET("/api/partners/{partnerId}/reports/{kind}", {
                  params: {
                    path: { partnerId, kind },
                    query: { continuationToken, status: statusQuery, tenantId: tenantQuery },
                  },
                }),
              )
        }
        columns={[
          ...(tenantId
            ? []
            : [
                {
                  key: "tenant",
                  header: t("tenant"),
                  cell: (row: Row) => (
                    <RouteLink to={`/reports/tenant/${row.tenantId}`}>{nameOf(row.tenantId)}</RouteLink>
                  ),
                },
              ]),
          {
            key: "item",
            header: t("item"),
            cell: (row: Row) => (
              <>
                <Text>{row.displayName ?? row.item}</Text>
                {row.userPrincipalName ? (
                  <Text size={200} className={styles.secondary}>
                    {row.userPrincipalName}
                  </Text>
                ) : null}
              </>
            ),
          },
          { key: "status", header: t("status"), cell: (row: Row) => row.status },
          { key: "details", header: t("details"), cell: (row: Row) => detailsText(row.details) },
          { key: "synced", header: t("syncedAt"), cell: (row: Row) => format.dateTime(row.tenantSyncedAt ?? row.syncedAt) },
        ]}
      />
    </>
  );
}
