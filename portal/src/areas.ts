// The portal's areas: where each lives, its name in the navigation, and its code (loaded when first opened).
import { lazy, type ComponentType, type LazyExoticComponent } from "react";
import type { common } from "./strings";

export type Area = {
  path: string;
  label: keyof typeof common.en;
  component: LazyExoticComponent<ComponentType>;
};

// Each area is a chunk of its own, so the first page loads only the shell and the tenants list.
export const areas: Area[] = [
  { path: "tenants", label: "navTenants", component: lazy(() => import("./pages/tenants")) },
  { path: "reports", label: "navReports", component: lazy(() => import("./pages/reports")) },
  { path: "standards", label: "navStandards", component: lazy(() => import("./pages/standards")) },
  { path: "dynamics", label: "navDynamics", component: lazy(() => import("./pages/dynamics")) },
  { path: "privacy", label: "navPrivacy", component: lazy(() => import("./pages/privacy")) },
  { path: "records", label: "navRecords", component: lazy(() => import("./pages/records")) },
  { path: "audit", label: "navAudit", component: lazy(() => import("./pages/audit")) },
  { path: "personnel", label: "navPersonnel", component: lazy(() => import("./pages/personnel")) },
  { path: "api-keys", label: "navApiKeys", component: lazy(() => import("./pages/apikeys")) },
  { path: "account", label: "navAccount", component: lazy(() => import("./pages/account")) },
  { path: "alerts", label: "navAlerts", component: lazy(() => import("./pages/alerts")) },
];
