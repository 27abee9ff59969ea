// The records area: the complaint register and correspondence with contact persons.
import { Route, Routes } from "react-router";
import { ComplaintPage } from "./ComplaintPage";
import { Complaints } from "./Complaints";
import { ThreadPage } from "./ThreadPage";
import { Threads } from "./Threads";

export default function RecordsArea() {
  return (
    <Routes>
      <Route index element={<Complaints />} />
      <Route path="complaints/:complaintId" element={<ComplaintPage />} />
      <Route path="correspondence" element={<Threads />} />
      <Route path="correspondence/:threadId" element={<ThreadPage />} />
    </Routes>
  );
}
