// The standards area: standards, their assignments and runs, compliance, and the baseline.
import { Route, Routes } from "react-router";
import { Assignments } from "./Assignments";
import { Baseline } from "./Baseline";
import { Compliance } from "./Compliance";
import { RunStatus } from "./RunStatus";
import { StandardEditor } from "./StandardEditor";
import { StandardList } from "./StandardList";
import { TenantBaseline } from "./TenantBaseline";

export default function StandardsArea() {
  return (
    <Routes>
      <Route index element={<StandardList />} />
      <Route path="new" element={<StandardEditor />} />
      <Route path="assignments" element={<Assignments />} />
      <Route path="compliance" element={<Compliance />} />
      <Route path="baseline" element={<Baseline />} />
      <Route path="baseline/:tenantId" element={<TenantBaseline />} />
      <Route path="runs/:runId" element={<RunStatus />} />
      <Route path=":standardId" element={<StandardEditor />} />
    </Routes>
  );
}
