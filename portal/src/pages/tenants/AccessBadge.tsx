// A tenant's access state as a coloured badge, in words.
import { Badge } from "@fluentui/react-components";
import type { Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { strings } from "./strings";

const colour = { pendingProof: "warning", proven: "success", accessLost: "danger" } as const;

export function AccessBadge({ state }: { state: Schemas["TenantAccess"]["state"] }) {
  const t = useStrings(strings);
  return (
    <Badge appearance="tint" color={colour[state]}>
      {t(`access.${state}`)}
    </Badge>
  );
}
