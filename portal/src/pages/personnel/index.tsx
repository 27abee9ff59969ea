// The personnel area: the partner's people, their roles and tenant scopes.
import { Route, Routes } from "react-router";
import { PersonnelList } from "./PersonnelList";

export default function PersonnelArea() {
  return (
    <Routes>
      <Route index element={<PersonnelList />} />
    </Routes>
  );
}
