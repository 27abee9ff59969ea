// An organisation's fields, as adding and editing it share them: names, business, tenant, webhook authentication.
import { Field, Input, Select } from "@fluentui/react-components";
import type { Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { GUID } from "./bits";
import type { FieldMessage } from "./FormDialog";
import { strings } from "./strings";
import type { Org, WebhookAuthIn } from "./types";

type Auth = "WebhookKey" | "HttpHeader";

export type OrgForm = {
  organizationId: string;
  name: string;
  uniqueName: string;
  languageCode: string;
  businessName: string;
  businessEmail: string;
  businessPhone: string;
  country: string;
  address: string;
  tenantId: string;
  authType: Auth;
  headerName: string;
};

export const emptyOrg: OrgForm = {
  organizationId: "",
  name: "",
  uniqueName: "",
  languageCode: "1033",
  businessName: "",
  businessEmail: "",
  businessPhone: "",
  country: "",
  address: "",
  tenantId: "",
  authType: "WebhookKey",
  headerName: "",
};

export function formOf(org: Org): OrgForm {
  return {
    organizationId: org.id,
    name: org.name,
    uniqueName: org.uniqueName,
    languageCode: String(org.languageCode),
    businessName: org.business.name,
    businessEmail: org.business.email ?? "",
    businessPhone: org.business.phone ?? "",
    country: org.business.country ?? "",
    address: org.business.address ?? "",
    tenantId: org.tenantId ?? "",
    authType: org.webhookAuth.type,
    headerName: org.webhookAuth.type === "HttpHeader" ? org.webhookAuth.headerName : "",
  };
}

const HEADER = /^[A-Za-z][A-Za-z0-9-]{0,63}$/;

type Key = keyof typeof strings.en;

/** What the API would refuse, keyed by the API's field name (the API checks again). */
export function orgProblems(form: OrgForm, withOrgId: boolean): Record<string, Key | undefined> {
  const text = (value: string, max = 256): Key | undefined =>
    !value.trim() ? "required" : value.length > max ? "tooLong" : undefined;
  const code = Number(form.languageCode);
  return {
    organizationId: withOrgId ? (!GUID.test(form.organizationId.trim()) ? "notGuid" : undefined) : undefined,
    name: text(form.name),
    uniqueName: text(form.uniqueName),
    languageCode: Number.isInteger(code) && code >= 1 && code <= 99999 ? undefined : "badLanguage",
    "business.name": text(form.businessName),
    "business.country": form.country && !/^[A-Z]{2}$/.test(form.country) ? "badCountry" : undefined,
    tenantId: form.tenantId.trim() && !GUID.test(form.tenantId.trim()) ? "notGuid" : undefined,
    "webhookAuth.headerName":
      form.authType === "HttpHeader" && !HEADER.test(form.headerName) ? "badHeader" : undefined,
  };
}

const optional = (value: string) => (value.trim() ? value.trim() : null);

export function businessOf(form: OrgForm): Schemas["Business"] {
  return {
    name: form.businessName.trim(),
    email: optional(form.businessEmail),
    phone: optional(form.businessPhone),
    country: optional(form.country),
    address: optional(form.address),
  };
}

export function authOf(form: OrgForm): WebhookAuthIn {
  return form.authType === "HttpHeader" ? { type: "HttpHeader", headerName: form.headerName } : { type: "WebhookKey" };
}

type Props = {
  form: OrgForm;
  set: (change: Partial<OrgForm>) => void;
  message: FieldMessage;
  withOrgId: boolean;
};

export function OrgFields({ form, set, message, withOrgId }: Props) {
  const t = useStrings(strings);
  const problems = orgProblems(form, withOrgId);
  const shown = (field: string) => {
    const own = problems[field];
    return message(field, own ? t(own) : undefined);
  };
  return (
    <>
      {withOrgId ? (
        <Field label={t("organizationId")} hint={t("organizationIdHint")} required validationMessage={shown("organizationId")}>
          <Input value={form.organizationId} onChange={(_, d) => set({ organizationId: d.value })} spellCheck={false} />
        </Field>
      ) : null}
      <Field label={t("orgName")} hint={t("orgNameHint")} required validationMessage={shown("name")}>
        <Input value={form.name} onChange={(_, d) => set({ name: d.value })} maxLength={256} />
      </Field>
      <Field label={t("uniqueName")} hint={t("uniqueNameHint")} required validationMessage={shown("uniqueName")}>
        <Input value={form.uniqueName} onChange={(_, d) => set({ uniqueName: d.value })} maxLength={256} spellCheck={false} />
      </Field>
      <Field label={t("languageCode")} hint={t("languageCodeHint")} required validationMessage={shown("languageCode")}>
        <Input
          type="number"
          min={1}
          max={99999}
          value={form.languageCode}
          onChange={(_, d) => set({ languageCode: d.value })}
        />
      </Field>
      <Field label={t("businessName")} hint={t("businessNameHint")} required validationMessage={shown("business.name")}>
        <Input value={form.businessName} onChange={(_, d) => set({ businessName: d.value })} maxLength={256} />
      </Field>
      <Field label={t("businessEmail")} validationMessage={shown("business.email")}>
        <Input type="email" value={form.businessEmail} onChange={(_, d) => set({ businessEmail: d.value })} maxLength={256} />
      </Field>
      <Field label={t("businessPhone")} validationMessage={shown("business.phone")}>
        <Input type="tel" value={form.businessPhone} onChange={(_, d) => set({ businessPhone: d.value })} maxLength={256} />
      </Field>
      <Field label={t("country")} hint={t("countryHint")} validationMessage={shown("business.country")}>
        <Input value={form.country} onChange={(_, d) => set({ country: d.value.toUpperCase() })} maxLength={2} />
      </Field>
      <Field label={t("address")} validationMessage={shown("business.address")}>
        <Input value={form.address} onChange={(_, d) => set({ address: d.value })} maxLength={1000} />
      </Field>
      <Field label={t("orgTenant")} hint={t("orgTenantHint")} validationMessage={shown("tenantId")}>
        <Input value={form.tenantId} onChange={(_, d) => set({ tenantId: d.value })} spellCheck={false} />
      </Field>
      <Field label={t("webhookAuth")} hint={t("webhookAuthHint")}>
        <Select value={form.authType} onChange={(_, d) => set({ authType: d.value as Auth })}>
          <option value="WebhookKey">{t("auth.WebhookKey")}</option>
          <option value="HttpHeader">{t("auth.HttpHeader")}</option>
        </Select>
      </Field>
      {form.authType === "HttpHeader" ? (
        <Field label={t("headerName")} hint={t("headerNameHint")} required validationMessage={shown("webhookAuth.headerName")}>
          <Input value={form.headerName} onChange={(_, d) => set({ headerName: d.value })} maxLength={64} spellCheck={false} />
        </Field>
      ) : null}
    </>
  );
}
