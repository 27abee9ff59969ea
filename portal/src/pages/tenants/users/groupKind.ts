// What kind of group Graph's flags describe, in the words of the Microsoft 365 admin centre.
import type { Schemas } from "../../../api/client";

export type GroupKind = "microsoft365" | "security" | "mailSecurity" | "distribution" | "other";

export function groupKind(group: Schemas["GroupOut"]): GroupKind {
  if (group.groupTypes?.includes("Unified")) return "microsoft365";
  if (group.securityEnabled && group.mailEnabled) return "mailSecurity";
  if (group.securityEnabled) return "security";
  if (group.mailEnabled) return "distribution";
  return "other";
}

/** Members of a dynamic group follow its rule: nobody adds or removes them by hand. */
export function isDynamic(group: Schemas["GroupOut"]): boolean {
  return group.groupTypes?.includes("DynamicMembership") ?? false;
}
