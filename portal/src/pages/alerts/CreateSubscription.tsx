// Subscribing a webhook, a Teams channel or e-mail addresses to alerts; a webhook's signing secret is
// handed to the caller (shown once by the page).
import { Field, Input, Select, Text, Textarea } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "../privacy/FormDialog";
import { useHearing } from "./SubscriptionFields";
import { strings } from "./strings";

type Channel = Schemas["AlertChannel"];
const CHANNELS: Channel[] = ["webhook", "teams", "email"];
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function urlProblem(value: string): boolean {
  try {
    const url = new URL(value.trim());
    return url.protocol !== "https:" && url.protocol !== "http:";
  } catch {
    return true;
  }
}

export function CreateSubscription({ onCreated }: { onCreated: (created: Schemas["SubscriptionCreated"]) => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [channel, setChannel] = useState<Channel>("webhook");
  const [url, setUrl] = useState("");
  const [recipients, setRecipients] = useState("");
  const [attempt, setAttempt] = useState("");
  const hearing = useHearing({ eventTypes: [] });

  const addresses = recipients
    .split(/[\n,;]/)
    .map((a) => a.trim())
    .filter(Boolean);
  const badAddress = addresses.find((a) => !EMAIL.test(a) || a.length > 320);
  const urlError = channel === "email" ? null : !url.trim() ? t("required") : urlProblem(url) ? t("badUrl") : null;
  const recipientsError =
    channel !== "email"
      ? null
      : addresses.length === 0
        ? t("required")
        : badAddress
          ? t("badEmail", { value: badAddress })
          : addresses.length > 20
            ? t("tooMany", { max: 20 })
            : null;

  return (
    <FormDialog
      trigger={t("subscribe")}
      title={t("subscribeTitle")}
      intro={<Text>{t("subscribeIntro")}</Text>}
      submitLabel={t("subscribeSend")}
      appearance="primary"
      valid={!urlError && !recipientsError && hearing.valid}
      onOpen={() => {
        setChannel("webhook");
        setUrl("");
        setRecipients("");
        setAttempt(crypto.randomUUID());
        hearing.reset();
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/alert-subscriptions", {
            params: { path: { partnerId }, header: { "Idempotency-Key": attempt } },
            body:
              channel === "email"
                ? { channel, recipients: addresses, tenantScope: null, ...hearing.hearing }
                : { channel, url: url.trim(), recipients: [], tenantScope: null, ...hearing.hearing },
          }),
        )
      }
      onDone={onCreated}
    >
      {(form) => (
        <>
          <Field label={t("channel")} validationMessage={form.message("channel")}>
            <Select value={channel} onChange={(_, data) => setChannel(data.value as Channel)}>
              {CHANNELS.map((c) => (
                <option key={c} value={c}>
                  {t(`channel.${c}`)}
                </option>
              ))}
            </Select>
          </Field>
          {channel === "email" ? (
            <Field
              label={t("recipients")}
              hint={t("recipientsHint")}
              required
              validationMessage={form.message("recipients", recipientsError)}
              validationState={form.message("recipients", recipientsError) ? "error" : "none"}
            >
              <Textarea value={recipients} onChange={(_, data) => setRecipients(data.value)} />
            </Field>
          ) : (
            <Field
              label={t("url")}
              hint={channel === "teams" ? t("urlHintTeams") : t("urlHintWebhook")}
              required
              validationMessage={form.message("url", urlError)}
              validationState={form.message("url", urlError) ? "error" : "none"}
            >
              <Input type="url" value={url} onChange={(_, data) => setUrl(data.value)} />
            </Field>
          )}
          {hearing.fields(form)}
        </>
      )}
    </FormDialog>
  );
}
