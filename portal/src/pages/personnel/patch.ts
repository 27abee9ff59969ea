// A PersonnelPatch with only the fields that change: the API leaves a field out of the change when it is
// absent, and null means something (tenantScope null: every tenant; displayName null: no name).
import type { Schemas } from "../../api/client";

type Patch = Schemas["PersonnelPatch"];

/** The generated type lists every defaulted field as required; the API takes any subset of them. */
export function personnelPatch(change: Partial<Patch>): Patch {
  return change as Patch;
}
