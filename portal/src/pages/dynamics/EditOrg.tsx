// Changing an organisation's details or how Dataverse authenticates its webhook (PATCH: only what changed).
import { useState } from "react";
import { api, call } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "./FormDialog";
import { OrgFields, authOf, businessOf, formOf, orgProblems, type OrgForm } from "./OrgFields";
import { strings } from "./strings";
import type { Org, OrgPatch } from "./types";


export function EditOrg({ org, onSaved }: { org: Org; onSaved: (org: Org) => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [form, setForm] = useState<OrgForm>(() => formOf(org));
  const valid = !Object.values(orgProblems(form, false)).some(Boolean);

  // null leaves a detail as it is, except the tenant, where null clears it: the tenant is always sent as shown.
  const patch = (): OrgPatch => {
    const before = formOf(org);
    const business = businessOf(form);
    return {
      name: form.name !== before.name ? form.name.trim() : null,
      uniqueName: form.uniqueName !== before.uniqueName ? form.uniqueName.trim() : null,
      languageCode: form.languageCode !== before.languageCode ? Number(form.languageCode) : null,
      business: JSON.stringify(business) !== JSON.stringify(businessOf(before)) ? business : null,
      administrators: null,
      webhookAuth: form.authType !== before.authType || form.headerName !== before.headerName ? authOf(form) : null,
      tenantId: form.tenantId.trim() ? form.tenantId.trim().toLowerCase() : null,
    };
  };

  return (
    <FormDialog
      trigger={t("editOrg")}
      title={t("editOrgTitle", { name: org.name })}
      intro={form.authType !== org.webhookAuth.type ? t("authChangeWarning") : undefined}
      submitLabel={t("save")}
      valid={valid}
      onOpen={() => setForm(formOf(org))}
      submit={() =>
        call(
          api.PATCH("/api/partners/{partnerId}/orgs/{orgId}", {
            params: { path: { partnerId, orgId: org.id } },
            body: patch(),
          }),
        )
      }
      onDone={onSaved}
    >
      {(message) => (
        <OrgFields form={form} set={(change) => setForm((b) => ({ ...b, ...change }))} message={message} withOrgId={false} />
      )}
    </FormDialog>
  );
}
