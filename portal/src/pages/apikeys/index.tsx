// The API keys area: the partner's keys for its own tools.
import { Route, Routes } from "react-router";
import { ApiKeyList } from "./ApiKeyList";

export default function ApiKeysArea() {
  return (
    <Routes>
      <Route index element={<ApiKeyList />} />
    </Routes>
  );
}
