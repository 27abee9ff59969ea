// The privacy area: data-subject requests, breaches, the record of processing, sub-processors and settings.
import { Route, Routes } from "react-router";
import { Breaches } from "./Breaches";
import { Processing } from "./Processing";
import { RequestList } from "./RequestList";
import { RequestPage } from "./RequestPage";
import { Settings } from "./Settings";
import { Subprocessors } from "./Subprocessors";

export default function PrivacyArea() {
  return (
    <Routes>
      <Route index element={<RequestList />} />
      <Route path="requests/:requestId" element={<RequestPage />} />
      <Route path="breaches" element={<Breaches />} />
      <Route path="processing" element={<Processing />} />
      <Route path="subprocessors" element={<Subprocessors />} />
      <Route path="settings" element={<Settings />} />
    </Routes>
  );
}
