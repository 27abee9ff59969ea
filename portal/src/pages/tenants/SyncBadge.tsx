// A sync's state as a coloured badge, in words.
import { Badge } from "@fluentui/react-components";
import type { Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { strings } from "./strings";

const colour = { queued: "informative", running: "brand", succeeded: "success", failed: "danger" } as const;

export function SyncBadge({ state }: { state: Schemas["SyncOut"]["state"] }) {
  const t = useStrings(strings);
  return (
    <Badge appearance="tint" color={colour[state]}>
      {t(`sync.${state}`)}
    </Badge>
  );
}
