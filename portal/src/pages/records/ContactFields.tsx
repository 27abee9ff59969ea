// Who a complaint or correspondence is with: a name, and an email address or phone number to reach them.
import { Field, Input } from "@fluentui/react-components";
import { useStrings } from "../../i18n";
import type { FormState } from "../privacy/FormDialog";
import { strings } from "./strings";

export type Contact = { name: string; email: string; phone: string };
export const noContact: Contact = { name: "", email: "", phone: "" };
const EMAIL = /^[^@\s]+@[^@\s]+$/;

/** The portal's checks of a contact, field by field (the API checks again). */
export function contactErrors(contact: Contact, t: (key: "errorRequired" | "errorEmail" | "errorPhone") => string) {
  return {
    name: contact.name.trim() ? null : t("errorRequired"),
    email: contact.email.trim() && !EMAIL.test(contact.email.trim()) ? t("errorEmail") : null,
    phone: contact.phone.trim() && contact.phone.trim().length < 3 ? t("errorPhone") : null,
  };
}

/** The contact as the API takes it: empty fields left out. */
export function contactBody(contact: Contact) {
  return { name: contact.name.trim(), email: contact.email.trim() || null, phone: contact.phone.trim() || null };
}

export function ContactFields({
  contact,
  onChange,
  form,
}: {
  contact: Contact;
  onChange: (contact: Contact) => void;
  form: FormState;
}) {
  const t = useStrings(strings);
  const errors = contactErrors(contact, t);
  return (
    <>
      <Field label={t("contactName")} required validationMessage={form.message("name", errors.name)}>
        <Input value={contact.name} onChange={(_, data) => onChange({ ...contact, name: data.value })} maxLength={200} />
      </Field>
      <Field label={t("contactEmail")} validationMessage={form.message("email", errors.email)}>
        <Input
          type="email"
          value={contact.email}
          onChange={(_, data) => onChange({ ...contact, email: data.value })}
          maxLength={320}
        />
      </Field>
      <Field label={t("contactPhone")} validationMessage={form.message("phone", errors.phone)}>
        <Input type="tel" value={contact.phone} onChange={(_, data) => onChange({ ...contact, phone: data.value })} maxLength={32} />
      </Field>
    </>
  );
}

/** A stored contact ({name, email?, phone?}) in one line. */
export function contactText(contact: Record<string, unknown>): string {
  return [contact.name, contact.email, contact.phone].filter((x) => typeof x === "string" && x).join(" · ");
}
