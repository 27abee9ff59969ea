// Recording a complaint about the partner's service: it is due for an answer four weeks after receipt.
import { Field, Input, Select, Textarea } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { dayStart } from "../privacy/bits";
import { FormDialog } from "../privacy/FormDialog";
import { ContactFields, contactBody, contactErrors, noContact, type Contact } from "./ContactFields";
import { strings } from "./strings";

type Channel = Schemas["PrivacyChannel"];
export const channels: Channel[] = ["email", "phone", "letter", "web", "inPerson", "other"];

export function FileComplaint({ onDone }: { onDone: (complaint: Schemas["ComplaintOut"]) => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [contact, setContact] = useState<Contact>(noContact);
  const [subject, setSubject] = useState("");
  const [channel, setChannel] = useState<Channel>("email");
  const [details, setDetails] = useState("");
  const [reference, setReference] = useState("");
  const [received, setReceived] = useState("");
  const errors = contactErrors(contact, t);
  const subjectError = subject.trim() ? null : t("errorRequired");
  const valid = !errors.name && !errors.email && !errors.phone && !subjectError;
  return (
    <FormDialog
      trigger={t("fileComplaint")}
      title={t("fileComplaintTitle")}
      intro={t("fileComplaintIntro")}
      submitLabel={t("fileComplaintSubmit")}
      appearance="primary"
      valid={valid}
      onOpen={() => {
        setContact(noContact);
        setSubject("");
        setChannel("email");
        setDetails("");
        setReference("");
        setReceived("");
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/complaints", {
            params: { path: { partnerId } },
            body: {
              contact: contactBody(contact),
              subject: subject.trim(),
              channel,
              details: details.trim() || null,
              reference: reference.trim() || null,
              receivedAt: dayStart(received),
            },
          }),
        )
      }
      onDone={onDone}
    >
      {(form) => (
        <>
          <ContactFields contact={contact} onChange={setContact} form={form} />
          <Field label={t("complaintSubject")} required validationMessage={form.message("subject", subjectError)}>
            <Input value={subject} onChange={(_, data) => setSubject(data.value)} maxLength={200} />
          </Field>
          <Field label={t("channel")} required>
            <Select value={channel} onChange={(_, data) => setChannel(data.value as Channel)}>
              {channels.map((c) => (
                <option key={c} value={c}>
                  {t(`channel.${c}`)}
                </option>
              ))}
            </Select>
          </Field>
          <Field label={t("complaintDetails")} validationMessage={form.message("details")}>
            <Textarea value={details} onChange={(_, data) => setDetails(data.value)} maxLength={4000} />
          </Field>
          <Field label={t("reference")} validationMessage={form.message("reference")}>
            <Input value={reference} onChange={(_, data) => setReference(data.value)} maxLength={100} />
          </Field>
          <Field label={t("receivedOn")} hint={t("receivedOnHint")} validationMessage={form.message("receivedAt")}>
            <Input type="date" value={received} onChange={(_, data) => setReceived(data.value)} />
          </Field>
        </>
      )}
    </FormDialog>
  );
}
