// Creating an API key: its name, permissions, expiry and tenants; the secret is shown once, then forgotten.
import { Checkbox, Field, Input, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "../personnel/FormDialog";
import {
  EVERY_TENANT,
  TenantScopeField,
  scopeBody,
  scopeProblem,
  type ScopeValue,
} from "../personnel/TenantScopeField";
import { strings as scopeStrings } from "../personnel/strings";
import { SecretOnce } from "./SecretOnce";
import { strings } from "./strings";

// manageAccess is never a key's (personnel and keys are managed by people only).
type KeyScope = Exclude<Schemas["Scope"], "manageAccess">;
export const KEY_SCOPES: KeyScope[] = ["read", "write", "notify", "privacy"];

/** The end of a chosen day (yyyy-mm-dd) in the browser's zone, as an instant; null when none is chosen. */
function endOfDay(day: string): string | null {
  if (!day) return null;
  const end = new Date(`${day}T23:59:59`);
  return Number.isNaN(end.getTime()) ? null : end.toISOString();
}

export function CreateKeyDialog({ onDone }: { onDone: () => void }) {
  const t = useStrings(strings);
  const ts = useStrings(scopeStrings);
  const { partnerId } = useSession();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<KeyScope[]>(["read"]);
  const [expires, setExpires] = useState("");
  const [tenants, setTenants] = useState<ScopeValue>(EVERY_TENANT);
  const [attempt, setAttempt] = useState("");

  const nameError = !name.trim() ? t("required") : name.length > 200 ? t("tooLong") : null;
  const scopesError = scopes.length === 0 ? t("noPermission") : null;
  const expiresAt = endOfDay(expires);
  const expiresError = expires && (!expiresAt || new Date(expiresAt) <= new Date()) ? t("notFuture") : null;
  const tenantsError = scopeProblem(tenants);

  const toggle = (scope: KeyScope, on: boolean) =>
    setScopes((before) => (on ? [...before.filter((s) => s !== scope), scope] : before.filter((s) => s !== scope)));

  return (
    <FormDialog
      trigger={t("create")}
      title={t("createTitle")}
      intro={<Text>{t("createIntro")}</Text>}
      submitLabel={t("createSend")}
      appearance="primary"
      valid={!nameError && !scopesError && !expiresError && !tenantsError}
      onOpen={() => {
        setName("");
        setScopes(["read"]);
        setExpires("");
        setTenants(EVERY_TENANT);
        // A retry after a lost answer gives back the same key (and secret), not a second key.
        setAttempt(crypto.randomUUID());
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/api-keys", {
            params: { path: { partnerId }, header: { "Idempotency-Key": attempt } },
            body: {
              name: name.trim(),
              scopes: KEY_SCOPES.filter((s) => scopes.includes(s)),
              expiresAt,
              tenantScope: scopeBody(tenants),
            },
          }),
        )
      }
      onDone={onDone}
      after={(created) => <SecretOnce name={created.name} secret={created.key} />}
    >
      {(form) => (
        <>
          <Field label={t("name")} hint={t("nameHint")} required validationMessage={form.message("name", nameError)}>
            <Input value={name} onChange={(_, data) => setName(data.value)} maxLength={200} />
          </Field>
          <Field label={t("permissions")} required validationMessage={form.message("scopes", scopesError)}>
            <div role="group" aria-label={t("permissions")}>
              {KEY_SCOPES.map((scope) => (
                <Checkbox
                  key={scope}
                  label={t(`permLine.${scope}`)}
                  checked={scopes.includes(scope)}
                  onChange={(_, data) => toggle(scope, data.checked === true)}
                />
              ))}
            </div>
          </Field>
          <Field label={t("expiresAt")} hint={t("expiresHint")} validationMessage={form.message("expiresAt", expiresError)}>
            <Input type="date" value={expires} onChange={(_, data) => setExpires(data.value)} />
          </Field>
          <TenantScopeField
            value={tenants}
            onChange={setTenants}
            message={form.message("tenantScope", tenantsError ? ts(tenantsError) : null)}
          />
        </>
      )}
    </FormDialog>
  );
}
