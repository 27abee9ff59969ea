// Keys shown once (after adding an organisation or rotating one), with what to put where.
import { MessageBar, MessageBarBody, MessageBarTitle, Text } from "@fluentui/react-components";
import { CopyField } from "../../components/CopyField";
import { useFormat, useStrings } from "../../i18n";
import { strings } from "./strings";

type Props = {
  webhookUrl?: string;
  webhookKey?: string | null;
  headerName?: string | null;
  deviceKey?: string | null;
  previousValidUntil?: string | null;
  rotated?: boolean;
};

export function NewKeys({ webhookUrl, webhookKey, headerName, deviceKey, previousValidUntil, rotated }: Props) {
  const t = useStrings(strings);
  const format = useFormat();
  return (
    <MessageBar intent="warning" layout="multiline">
      <MessageBarBody>
        <MessageBarTitle>{t("shownOnce")}</MessageBarTitle>
        {webhookUrl ? <CopyField label={t("webhookUrl")} value={webhookUrl} /> : null}
        {webhookKey ? (
          <>
            <CopyField label={t("webhookKey")} value={webhookKey} />
            <Text block>{headerName ? t("whereWebhookHeader", { header: headerName }) : t("whereWebhookKey")}</Text>
            {rotated ? (
              <Text block>
                {previousValidUntil
                  ? t("previousUntil", { at: format.dateTime(previousValidUntil) })
                  : t("previousEnded")}
              </Text>
            ) : null}
          </>
        ) : null}
        {deviceKey ? (
          <>
            <CopyField label={t("deviceKey")} value={deviceKey} />
            <Text block>{t("whereDeviceKey")}</Text>
          </>
        ) : null}
      </MessageBarBody>
    </MessageBar>
  );
}
