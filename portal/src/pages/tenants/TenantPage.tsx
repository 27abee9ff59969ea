// A tenant's own page: its name, then tabs (overview, users, groups, configuration and drift, baseline).
import { MessageBar, MessageBarBody, Spinner, makeStyles, tokens } from "@fluentui/react-components";
import { Suspense, useEffect, useState } from "react";
import { useLocation, useParams, useSearchParams } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { common } from "../../strings";
import { BaselineTab } from "./BaselineTab";
import { ConfigurationTab } from "./ConfigurationTab";
import { LinkButton } from "./LinkButton";
import { OverviewTab } from "./OverviewTab";
import { strings } from "./strings";
import { TabStrip } from "../../components/TabStrip";
import { GroupsTab, UsersTab } from "./TenantTabs";

type Tenant = Schemas["TenantOut"];
const tabs = ["overview", "users", "groups", "configuration", "baseline"] as const;
type TabName = (typeof tabs)[number];
const tabLabel = {
  overview: "tabOverview",
  users: "tabUsers",
  groups: "tabGroups",
  configuration: "tabConfiguration",
  baseline: "tabBaseline",
} as const;

const useStyles = makeStyles({
  panel: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalXL, paddingTop: tokens.spacingVerticalM },
});

export default function TenantPage() {
  const t = useStrings(strings);
  const tc = useStrings(common);
  const styles = useStyles();
  const { partnerId } = useSession();
  const { tenantId = "" } = useParams();
  const location = useLocation();
  const [params, setParams] = useSearchParams();
  const asked = params.get("tab");
  const tab: TabName = tabs.includes(asked as TabName) ? (asked as TabName) : "overview";
  const loaded = useLoad(
    () =>
      call(api.GET("/api/partners/{partnerId}/tenants/{tenantId}", { params: { path: { partnerId, tenantId } } })),
    [partnerId, tenantId],
  );
  // A proof or an action answers the tenant anew: shown at once, without reading it again.
  const [tenant, setTenant] = useState<Tenant | undefined>(undefined);
  useEffect(() => setTenant(loaded.data), [loaded.data]);
  const added = (location.state as { added?: boolean } | null)?.added === true;

  if (!tenant) {
    return (
      <PageFrame title={t("name")} actions={<LinkButton to="/tenants">{t("back")}</LinkButton>}>
        {loaded.error ? <Problem error={loaded.error} /> : <Spinner label={tc("loading")} />}
      </PageFrame>
    );
  }
  return (
    <PageFrame
      title={tenant.displayName}
      description={t("tenantIdLine", { id: tenant.id })}
      actions={<LinkButton to="/tenants">{t("back")}</LinkButton>}
    >
      {added ? (
        <MessageBar intent="success">
          <MessageBarBody>{t("added")}</MessageBarBody>
        </MessageBar>
      ) : null}
      {tenant.status === "deleting" ? (
        <MessageBar intent="warning">
          <MessageBarBody>{t("deleting")}</MessageBarBody>
        </MessageBar>
      ) : null}
      <TabStrip
        label={t("tabsLabel")}
        tabs={tabs}
        selected={tab}
        onSelect={(name) => setParams({ tab: name }, { replace: true })}
        text={(name) => t(tabLabel[name])}
        tabId={(name) => `tenant-tab-${name}`}
        panelId="tenant-tab-panel"
      />
      <div role="tabpanel" id="tenant-tab-panel" aria-labelledby={`tenant-tab-${tab}`} className={styles.panel}>
        {tab === "overview" ? <OverviewTab tenant={tenant} onChange={setTenant} reload={loaded.reload} /> : null}
        {tab === "configuration" ? <ConfigurationTab tenant={tenant} /> : null}
        {tab === "baseline" ? <BaselineTab tenant={tenant} /> : null}
        {tab === "users" || tab === "groups" ? (
          <Suspense fallback={<Spinner label={tc("loading")} />}>
            {tab === "users" ? <UsersTab tenantId={tenant.id} /> : <GroupsTab tenantId={tenant.id} />}
          </Suspense>
        ) : null}
      </div>
    </PageFrame>
  );
}
