// The Dynamics 365 area: organisations, an organisation's page, its rules and notifications, and consent.
import { Spinner } from "@fluentui/react-components";
import { Suspense, lazy } from "react";
import { Route, Routes } from "react-router";
import { useStrings } from "../../i18n";
import { common } from "../../strings";
import { OrgList } from "./OrgList";

const AddOrg = lazy(() => import("./AddOrg"));
const OrgPage = lazy(() => import("./OrgPage"));
const RuleEditor = lazy(() => import("./RuleEditor"));
const NotificationPage = lazy(() => import("./NotificationPage"));
const Consent = lazy(() => import("./Consent"));

export default function DynamicsArea() {
  const t = useStrings(common);
  return (
    <Suspense fallback={<Spinner label={t("loading")} />}>
      <Routes>
        <Route index element={<OrgList />} />
        <Route path="new" element={<AddOrg />} />
        <Route path="consent" element={<Consent />} />
        <Route path=":orgId" element={<OrgPage />} />
        <Route path=":orgId/rules/new" element={<RuleEditor />} />
        <Route path=":orgId/rules/:ruleId" element={<RuleEditor />} />
        <Route path=":orgId/notifications/:notificationId" element={<NotificationPage />} />
      </Routes>
    </Suspense>
  );
}
