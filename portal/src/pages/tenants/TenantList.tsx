// The partner's tenants (those the person's scope reaches), with access, last sync and counts.
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AccessBadge } from "./AccessBadge";
import { LinkButton } from "./LinkButton";
import { strings } from "./strings";

type Tenant = Schemas["TenantOut"];

export function TenantList() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  return (
    <PageFrame
      title={t("title")}
      description={t("description")}
      actions={
        <>
          <LinkButton to="/tenants/new" appearance="primary">
            {t("addTenant")}
          </LinkButton>
          <LinkButton to="/tenants/groups">{t("tenantGroups")}</LinkButton>
        </>
      }
    >
      <PagedTable<Tenant>
        label={t("tableLabel")}
        rowKey={(tenant) => tenant.id}
        empty={t("empty")}
        resetOn={[partnerId]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/tenants", {
              params: { path: { partnerId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          {
            key: "name",
            header: t("name"),
            cell: (tenant) => (
              <RouteLink to={`/tenants/${tenant.id}`}>{tenant.displayName}</RouteLink>
            ),
          },
          {
            key: "access",
            header: t("access"),
            cell: (tenant) => <AccessBadge state={tenant.access.state} />,
          },
          {
            key: "sync",
            header: t("sync"),
            cell: (tenant) =>
              tenant.lastSync
                ? `${t(`sync.${tenant.lastSync.state}`)} · ${format.dateTime(tenant.lastSync.finishedAt)}`
                : t("never"),
          },
          { key: "users", header: t("users"), cell: (tenant) => format.number(tenant.counts?.users) },
          { key: "groups", header: t("groups"), cell: (tenant) => format.number(tenant.counts?.groups) },
        ]}
      />
    </PageFrame>
  );
}
