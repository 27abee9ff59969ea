// The audit area: the audit log (with its chain check), the API calls and the sign-ins.
import { Route, Routes } from "react-router";
import { ApiCalls } from "./ApiCalls";
import { AuditLog } from "./AuditLog";
import { Sessions } from "./Sessions";

export default function AuditArea() {
  return (
    <Routes>
      <Route index element={<AuditLog />} />
      <Route path="api-calls" element={<ApiCalls />} />
      <Route path="sessions" element={<Sessions />} />
    </Routes>
  );
}
