// Sending a notification to some system users of the organisation, or to everyone with a device.
import { Checkbox, Field, Input, Textarea } from "@fluentui/react-components";
import { useMemo, useState } from "react";
import { api, call } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { GUID, guidList } from "./bits";
import { FormDialog } from "./FormDialog";
import { strings } from "./strings";

const blank = { title: "", body: "", link: "", everyone: false, users: "" };

export function SendNotification({ orgId, onSent }: { orgId: string; onSent: () => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [form, setForm] = useState(blank);
  const set = (change: Partial<typeof blank>) => setForm((b) => ({ ...b, ...change }));
  const idempotencyKey = useMemo(() => crypto.randomUUID(), [form]);
  const users = guidList(form.users);
  const errors = {
    title: !form.title.trim() ? t("required") : undefined,
    link: form.link && !form.link.startsWith("https://") ? t("badLink") : undefined,
    recipients: form.everyone
      ? undefined
      : users.length === 0
        ? t("usersNeeded")
        : users.length > 1000
          ? t("tooManyUsers")
          : users.every((u) => GUID.test(u))
            ? undefined
            : t("badUsers"),
  };
  return (
    <FormDialog
      trigger={t("send")}
      title={t("sendTitle")}
      submitLabel={t("sendSubmit")}
      valid={!Object.values(errors).some(Boolean)}
      onOpen={() => setForm(blank)}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/orgs/{orgId}/notifications", {
            params: { path: { partnerId, orgId }, header: { "Idempotency-Key": idempotencyKey } },
            body: form.everyone
              ? { everyone: true, recipients: null, title: form.title.trim(), body: form.body, link: form.link || null }
              : { everyone: false, recipients: users.map((u) => u.toLowerCase()), title: form.title.trim(), body: form.body, link: form.link || null },
          }),
        )
      }
      onDone={onSent}
    >
      {(message) => (
        <>
          <Field label={t("ruleTitle")} required validationMessage={message("title", errors.title)}>
            <Input value={form.title} onChange={(_, d) => set({ title: d.value })} maxLength={500} />
          </Field>
          <Field label={t("ruleBody")} validationMessage={message("body")}>
            <Textarea value={form.body} onChange={(_, d) => set({ body: d.value })} maxLength={4000} />
          </Field>
          <Field label={t("ruleLink")} hint={t("sendLinkHint")} validationMessage={message("link", errors.link)}>
            <Input value={form.link} onChange={(_, d) => set({ link: d.value })} maxLength={2000} />
          </Field>
          <Checkbox checked={form.everyone} onChange={(_, d) => set({ everyone: d.checked === true })} label={t("sendEveryone")} />
          {form.everyone ? null : (
            <Field label={t("recipientUsers")} hint={t("recipientUsersHint")} required validationMessage={message("recipients", errors.recipients)}>
              <Textarea value={form.users} onChange={(_, d) => set({ users: d.value })} spellCheck={false} />
            </Field>
          )}
        </>
      )}
    </FormDialog>
  );
}
