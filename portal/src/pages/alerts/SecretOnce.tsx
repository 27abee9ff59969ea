// A webhook's signing secret as the API answered it, once: a copy button and the warning.
import { MessageBar, MessageBarBody } from "@fluentui/react-components";
import { CopyField } from "../../components/CopyField";
import { useStrings } from "../../i18n";
import { strings } from "./strings";

export function SecretOnce({ secret, note }: { secret: string; note?: string }) {
  const t = useStrings(strings);
  return (
    <>
      <MessageBar intent="warning" role="alert">
        <MessageBarBody>
          {t("secretWarning")}
          {note ? ` ${note}` : ""}
        </MessageBarBody>
      </MessageBar>
      <CopyField label={t("secretLabel")} value={secret} />
    </>
  );
}
