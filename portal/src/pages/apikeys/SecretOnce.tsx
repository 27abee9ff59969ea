// A key's secret as the API answered it, once: a copy button and the warning that it is never shown again.
import { MessageBar, MessageBarBody, Text } from "@fluentui/react-components";
import { CopyField } from "../../components/CopyField";
import { useStrings } from "../../i18n";
import { strings } from "./strings";

export function SecretOnce({ name, secret }: { name: string; secret: string }) {
  const t = useStrings(strings);
  return (
    <>
      <MessageBar intent="warning" role="alert">
        <MessageBarBody>{t("secretWarning")}</MessageBarBody>
      </MessageBar>
      <CopyField label={t("secretLabel", { name })} value={secret} />
      <Text>{t("secretUse")}</Text>
    </>
  );
}
