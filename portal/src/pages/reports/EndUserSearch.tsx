// Find an end user in any tenant by the start of a name or address, as you type.
import { Field, Input } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { EmptyState } from "../../components/EmptyState";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

type Hit = Schemas["UserSearchHit"];

export function EndUserSearch() {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [typed, setTyped] = useState("");
  const [prefix, setPrefix] = useState("");
  useEffect(() => {
    // Debounced: one search once typing pauses, not one per key.
    const timer = window.setTimeout(() => setPrefix(typed.trim()), 300);
    return () => window.clearTimeout(timer);
  }, [typed]);
  const tenants = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/tenants", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const names = new Map((tenants.data?.items ?? []).map((tenant) => [tenant.id, tenant.displayName]));

  return (
    <PageFrame
      title={t("searchTitle")}
      description={t("searchDescription")}
      actions={<RouteLink to="/reports">{t("allReports")}</RouteLink>}
    >
      <Field label={t("prefix")} hint={t("prefixHint")}>
        <Input type="search" value={typed} onChange={(_, data) => setTyped(data.value)} />
      </Field>
      {prefix ? (
        <PagedTable<Hit>
          label={t("searchLabel")}
          rowKey={(hit) => `${hit.tenantId}/${hit.userId}`}
          empty={t("noHits", { prefix })}
          resetOn={[partnerId, prefix]}
          load={(continuationToken) =>
            call(
              api.GET("/api/partners/{partnerId}/end-users/search", {
                params: { path: { partnerId }, query: { prefix, continuationToken } },
              }),
            )
          }
          columns={[
            { key: "name", header: t("name"), cell: (hit) => hit.displayName ?? "—" },
            { key: "upn", header: t("upn"), cell: (hit) => hit.userPrincipalName ?? "—" },
            { key: "mail", header: t("mail"), cell: (hit) => hit.mail ?? "—" },
            {
              key: "tenant",
              header: t("tenant"),
              cell: (hit) => <RouteLink to={`/tenants/${hit.tenantId}`}>{names.get(hit.tenantId) ?? hit.tenantId}</RouteLink>,
            },
            { key: "matched", header: t("matched"), cell: (hit) => hit.matched },
          ]}
        />
      ) : (
        <EmptyState>{t("typeToSearch")}</EmptyState>
      )}
    </PageFrame>
  );
}
