// The partner's own Entra tenant: connected or not, and a consent link for its administrator when not.
import { Button, Spinner, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Section } from "./Section";
import { SignInLinkField } from "./SignInLinkField";
import { strings } from "./strings";

export function EntraConnectionCard({ level = 2 }: { level?: 2 | 3 }) {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const [link, setLink] = useState<Schemas["SignInLink"] | null>(null);
  const connection = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/entra-connection", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const state = connection.data;
  return (
    <Section title={t("entraTitle")} level={level}>
      {connection.loading && !state ? <Spinner size="tiny" label={t("checkAgain")} /> : null}
      {connection.error ? <Problem error={connection.error} /> : null}
      {state?.connected ? (
        <Text role="status">{t("entraConnected", { since: format.dateTime(state.connectedAt) })}</Text>
      ) : null}
      {state && !state.connected ? (
        <>
          <Text role="status">{t("entraNotConnected", { tenantId: state.tenantId })}</Text>
          <div>
            <ActionButton
              label={t("entraConnect")}
              run={() =>
                call(api.POST("/api/partners/{partnerId}/entra-connection", { params: { path: { partnerId } } }))
              }
              onDone={setLink}
            />
          </div>
          {link ? <SignInLinkField label={t("entraLink")} link={link} /> : null}
          <div>
            <Button onClick={connection.reload}>{t("checkAgain")}</Button>
          </div>
        </>
      ) : null}
    </Section>
  );
}
