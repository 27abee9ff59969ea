// Starting a correspondence thread with a contact person, optionally with its first message.
import { Field, Input, Radio, RadioGroup, Textarea } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "../privacy/FormDialog";
import { ContactFields, contactBody, contactErrors, noContact, type Contact } from "./ContactFields";
import { strings } from "./strings";

type Direction = Schemas["Direction"];

export function StartThread({ onDone }: { onDone: (thread: Schemas["ThreadWithMessages"]) => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [contact, setContact] = useState<Contact>(noContact);
  const [topic, setTopic] = useState("");
  const [direction, setDirection] = useState<Direction>("inbound");
  const [body, setBody] = useState("");
  const errors = contactErrors(contact, t);
  const topicError = topic.trim() ? null : t("errorRequired");
  const valid = !errors.name && !errors.email && !errors.phone && !topicError;
  return (
    <FormDialog
      trigger={t("startThread")}
      title={t("startThreadTitle")}
      intro={t("startThreadIntro")}
      submitLabel={t("startThreadSubmit")}
      appearance="primary"
      valid={valid}
      onOpen={() => {
        setContact(noContact);
        setTopic("");
        setDirection("inbound");
        setBody("");
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/correspondence", {
            params: { path: { partnerId } },
            body: {
              contact: contactBody(contact),
              topic: topic.trim(),
              firstMessage: body.trim() ? { direction, body: body.trim(), sentAt: null } : null,
            },
          }),
        )
      }
      onDone={onDone}
    >
      {(form) => (
        <>
          <ContactFields contact={contact} onChange={setContact} form={form} />
          <Field label={t("topic")} required validationMessage={form.message("topic", topicError)}>
            <Input value={topic} onChange={(_, data) => setTopic(data.value)} maxLength={200} />
          </Field>
          <Field label={t("firstMessageDirection")}>
            <RadioGroup layout="horizontal" value={direction} onChange={(_, data) => setDirection(data.value as Direction)}>
              <Radio value="inbound" label={t("direction.inbound")} />
              <Radio value="outbound" label={t("direction.outbound")} />
            </RadioGroup>
          </Field>
          <Field label={t("firstMessage")} hint={t("firstMessageHint")} validationMessage={form.message("body")}>
            <Textarea value={body} onChange={(_, data) => setBody(data.value)} maxLength={16000} />
          </Field>
        </>
      )}
    </FormDialog>
  );
}
