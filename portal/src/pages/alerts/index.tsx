// The alerts area: subscriptions with their deliveries, and the operator's notices.
import { Route, Routes } from "react-router";
import { AlertList } from "./AlertList";
import { DeliveryPage } from "./DeliveryPage";
import { SubscriptionPage } from "./SubscriptionPage";

export default function AlertsArea() {
  return (
    <Routes>
      <Route index element={<AlertList />} />
      <Route path=":subscriptionId" element={<SubscriptionPage />} />
      <Route path=":subscriptionId/deliveries/:deliveryId" element={<DeliveryPage />} />
    </Routes>
  );
}
