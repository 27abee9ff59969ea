// The reports area: reports across tenants and of one tenant, and finding an end user.
import { Route, Routes } from "react-router";
import { EndUserSearch } from "./EndUserSearch";
import { ReportsPage } from "./ReportsPage";
import { TenantReports } from "./TenantReports";

export default function ReportsArea() {
  return (
    <Routes>
      <Route index element={<ReportsPage />} />
      <Route path="users" element={<EndUserSearch />} />
      <Route path="tenant/:tenantId" element={<TenantReports />} />
    </Routes>
  );
}
