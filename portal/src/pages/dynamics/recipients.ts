// Who a rule notifies, in words.
import { useStrings } from "../../i18n";
import { strings } from "./strings";
import type { Recipients } from "./types";

export function useRecipientsText(): (recipients: Recipients) => string {
  const t = useStrings(strings);
  return (recipients) =>
    recipients.type === "users"
      ? t("recipientsUsers", { count: recipients.users?.length ?? 0 })
      : t(`recipients.${recipients.type}`);
}
