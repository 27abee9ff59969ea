// Whether an organisation is proven the partner's (by its first authenticated Dataverse delivery).
import { Badge } from "@fluentui/react-components";
import type { Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { strings } from "./strings";

export function AccessBadge({ access }: { access: Schemas["OrgAccess"] }) {
  const t = useStrings(strings);
  return (
    <Badge appearance="tint" color={access.state === "proven" ? "success" : "warning"}>
      {t(`access.${access.state}`)}
    </Badge>
  );
}
