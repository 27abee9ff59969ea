// Replacing an organisation's webhook key (the old one works on for a while) or its device-registration key.
import { Field, Input, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Narrow, Section } from "./bits";
import { NewKeys } from "./NewKeys";
import { strings } from "./strings";
import type { Org } from "./types";

type Secret = Schemas["OrgSecretOut"];

export function RotateKeys({ org }: { org: Org }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [overlap, setOverlap] = useState("24");
  const [webhook, setWebhook] = useState<Secret | null>(null);
  const [device, setDevice] = useState<Secret | null>(null);
  const hours = Number(overlap);
  const overlapValid = overlap.trim() !== "" && Number.isInteger(hours) && hours >= 0 && hours <= 168;
  const path = { partnerId, orgId: org.id };
  return (
    <Section title={t("keysTitle")}>
      <Text>{t("webhookKeyExplain")}</Text>
      <Narrow>
        <Field
          label={t("overlapHours")}
          hint={t("overlapHint")}
          validationMessage={overlapValid ? undefined : t("badOverlap")}
        >
          <Input type="number" min={0} max={168} value={overlap} onChange={(_, d) => setOverlap(d.value)} />
        </Field>
      </Narrow>
      <div>
        <ActionButton
          label={t("rotateWebhook")}
          disabled={!overlapValid}
          confirm={{
            title: t("rotateWebhookConfirm", { name: org.name }),
            body: hours === 0 ? t("rotateWebhookNow") : t("rotateWebhookBody", { hours }),
          }}
          run={() =>
            call(
              api.POST("/api/partners/{partnerId}/orgs/{orgId}/webhook-key/rotate", {
                params: { path },
                body: { overlapHours: hours },
              }),
            )
          }
          done={() => t("rotated")}
          onDone={setWebhook}
        />
      </div>
      {webhook ? (
        <NewKeys
          webhookKey={webhook.webhookKey}
          headerName={org.webhookAuth.type === "HttpHeader" ? org.webhookAuth.headerName : null}
          previousValidUntil={webhook.previousValidUntil}
          rotated
        />
      ) : null}
      <Text>{t("deviceKeyExplain")}</Text>
      <div>
        <ActionButton
          label={t("rotateDevice")}
          confirm={{ title: t("rotateDeviceConfirm", { name: org.name }), body: t("rotateDeviceBody") }}
          run={() => call(api.POST("/api/partners/{partnerId}/orgs/{orgId}/device-key/rotate", { params: { path } }))}
          done={() => t("rotated")}
          onDone={setDevice}
        />
      </div>
      {device ? <NewKeys deviceKey={device.deviceKey} /> : null}
    </Section>
  );
}
