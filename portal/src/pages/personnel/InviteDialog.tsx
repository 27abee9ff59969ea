// Inviting a person: their Entra object id, email, name, role and the tenants they may see.
import { Field, Input, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "./FormDialog";
import { RoleField, type Role } from "./roles";
import { strings } from "./strings";
import { EVERY_TENANT, TenantScopeField, scopeBody, scopeProblem, type ScopeValue } from "./TenantScopeField";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

export function InviteDialog({ onDone }: { onDone: () => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [objectId, setObjectId] = useState("");
  const [email, setEmail] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [scope, setScope] = useState<ScopeValue>(EVERY_TENANT);
  const [attempt, setAttempt] = useState("");

  const objectIdError = !objectId.trim() ? t("required") : GUID.test(objectId.trim()) ? null : t("notGuid");
  const emailError = !email.trim() ? t("required") : email.length > 320 || !EMAIL.test(email.trim()) ? t("notEmail") : null;
  const nameError = displayName.length > 200 ? t("tooLong") : null;
  const scopeError = scopeProblem(scope);

  return (
    <FormDialog
      trigger={t("invite")}
      title={t("inviteTitle")}
      intro={<Text>{t("inviteIntro")}</Text>}
      submitLabel={t("inviteSend")}
      appearance="primary"
      valid={!objectIdError && !emailError && !nameError && !scopeError}
      onOpen={() => {
        setObjectId("");
        setEmail("");
        setDisplayName("");
        setRole("viewer");
        setScope(EVERY_TENANT);
        // One invitation, one key: a retry after a lost answer does not invite twice.
        setAttempt(crypto.randomUUID());
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/personnel", {
            params: { path: { partnerId }, header: { "Idempotency-Key": attempt } },
            body: {
              objectId: objectId.trim().toLowerCase(),
              email: email.trim(),
              displayName: displayName.trim() || null,
              role,
              tenantScope: scopeBody(scope),
            },
          }),
        )
      }
      onDone={onDone}
    >
      {(form) => (
        <>
          <Field label={t("objectId")} hint={t("objectIdHint")} required validationMessage={form.message("objectId", objectIdError)}>
            <Input value={objectId} onChange={(_, data) => setObjectId(data.value)} maxLength={36} />
          </Field>
          <Field label={t("email")} required validationMessage={form.message("email", emailError)}>
            <Input type="email" value={email} onChange={(_, data) => setEmail(data.value)} maxLength={320} />
          </Field>
          <Field label={t("displayName")} hint={t("displayNameHint")} validationMessage={form.message("displayName", nameError)}>
            <Input value={displayName} onChange={(_, data) => setDisplayName(data.value)} maxLength={200} />
          </Field>
          <RoleField value={role} onChange={setRole} message={form.message("role")} />
          <TenantScopeField
            value={scope}
            onChange={setScope}
            message={form.message("tenantScope", scopeError ? t(scopeError) : null)}
          />
        </>
      )}
    </FormDialog>
  );
}
