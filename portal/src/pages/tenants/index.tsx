// The tenants area: the list, onboarding, tenant groups, and a tenant's own page (each loaded when opened).
import { Spinner } from "@fluentui/react-components";
import { Suspense, lazy } from "react";
import { Route, Routes } from "react-router";
import { useStrings } from "../../i18n";
import { common } from "../../strings";
import { TenantList } from "./TenantList";

const Onboarding = lazy(() => import("./Onboarding"));
const TenantGroups = lazy(() => import("./TenantGroups"));
const TenantPage = lazy(() => import("./TenantPage"));

export default function TenantsArea() {
  const t = useStrings(common);
  return (
    <Suspense fallback={<Spinner label={t("loading")} />}>
      <Routes>
        <Route index element={<TenantList />} />
        <Route path="new" element={<Onboarding />} />
        <Route path="groups" element={<TenantGroups />} />
        <Route path=":tenantId" element={<TenantPage />} />
      </Routes>
    </Suspense>
  );
}
