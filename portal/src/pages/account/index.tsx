// The subscription-and-usage area: the subscription with plans, usage and ending it; administration; invoices.
import { Route, Routes } from "react-router";
import { Administration } from "./Administration";
import { InvoicePage } from "./InvoicePage";
import { Invoices } from "./Invoices";
import { Subscription } from "./Subscription";

export default function AccountArea() {
  return (
    <Routes>
      <Route index element={<Subscription />} />
      <Route path="administration" element={<Administration />} />
      <Route path="invoices" element={<Invoices />} />
      <Route path="invoices/:invoiceId" element={<InvoicePage />} />
    </Routes>
  );
}
