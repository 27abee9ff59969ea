// An organisation's own page: its details and keys, its system users, its rules and its notifications (tabs).
import { MessageBar, MessageBarBody, Spinner, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { useLocation, useParams, useSearchParams } from "react-router";
import { api, call } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { common } from "../../strings";
import { LinkButton } from "./bits";
import { Notifications } from "./Notifications";
import { OrgDetails } from "./OrgDetails";
import { OrgUsers } from "./OrgUsers";
import { Rules } from "./Rules";
import { strings } from "./strings";
import { TabStrip } from "../../components/TabStrip";
import type { Org } from "./types";

const tabs = ["details", "users", "rules", "notifications"] as const;
type TabName = (typeof tabs)[number];
const tabLabel = { details: "tabDetails", users: "tabUsers", rules: "tabRules", notifications: "tabNotifications" } as const;

const useStyles = makeStyles({
  panel: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalXL, paddingTop: tokens.spacingVerticalM },
});

export default function OrgPage() {
  const t = useStrings(strings);
  const tc = useStrings(common);
  const styles = useStyles();
  const { partnerId } = useSession();
  const { orgId = "" } = useParams();
  const location = useLocation();
  const [params, setParams] = useSearchParams();
  const asked = params.get("tab");
  const tab: TabName = tabs.includes(asked as TabName) ? (asked as TabName) : "details";
  const loaded = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/orgs/{orgId}", { params: { path: { partnerId, orgId } } })),
    [partnerId, orgId],
  );
  const [org, setOrg] = useState<Org | undefined>(undefined);
  useEffect(() => setOrg(loaded.data), [loaded.data]);
  const saved = (location.state as { saved?: string } | null)?.saved;

  if (!org) {
    return (
      <PageFrame title={t("org")} actions={<LinkButton to="/dynamics">{t("back")}</LinkButton>}>
        {loaded.error ? <Problem error={loaded.error} /> : <Spinner label={tc("loading")} />}
      </PageFrame>
    );
  }
  return (
    <PageFrame
      title={org.name}
      description={t("orgLine", { unique: org.uniqueName, id: org.id })}
      actions={<LinkButton to="/dynamics">{t("back")}</LinkButton>}
    >
      {saved ? (
        <MessageBar intent="success">
          <MessageBarBody>{saved === "deleted" ? t("ruleDeleted") : t("ruleSaved")}</MessageBarBody>
        </MessageBar>
      ) : null}
      <TabStrip
        label={t("tabsLabel")}
        tabs={tabs}
        selected={tab}
        onSelect={(name) => setParams({ tab: name }, { replace: true })}
        text={(name) => t(tabLabel[name])}
        tabId={(name) => `org-tab-${name}`}
        panelId="org-tab-panel"
      />
      <div role="tabpanel" id="org-tab-panel" aria-labelledby={`org-tab-${tab}`} className={styles.panel}>
        {tab === "details" ? <OrgDetails org={org} onChange={setOrg} /> : null}
        {tab === "users" ? <OrgUsers orgId={org.id} /> : null}
        {tab === "rules" ? <Rules orgId={org.id} /> : null}
        {tab === "notifications" ? <Notifications orgId={org.id} /> : null}
      </div>
    </PageFrame>
  );
}
