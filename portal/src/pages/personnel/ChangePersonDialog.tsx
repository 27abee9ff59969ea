// Changing a person: their role and the tenants they may see, read fresh from the API as the dialog opens.
import { Spinner, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { Problem } from "../../components/Problem";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { common } from "../../strings";
import { FormDialog } from "./FormDialog";
import { personnelPatch } from "./patch";
import { RoleField, type Role } from "./roles";
import { strings } from "./strings";
import { TenantScopeField, scopeBody, scopeFrom, scopeProblem, type ScopeValue } from "./TenantScopeField";

type Person = Schemas["PersonnelOut"];

export function ChangePersonDialog({ person, name, onDone }: { person: Person; name: string; onDone: () => void }) {
  const t = useStrings(strings);
  const tc = useStrings(common);
  const { partnerId } = useSession();
  const [role, setRole] = useState<Role>(person.role);
  const [scope, setScope] = useState<ScopeValue>(scopeFrom(person.tenantScope));
  const [reading, setReading] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const scopeError = scopeProblem(scope);

  const open = () => {
    // The list may be old: start from the person as they are now.
    setRole(person.role);
    setScope(scopeFrom(person.tenantScope));
    setFailure(null);
    setReading(true);
    call(
      api.GET("/api/partners/{partnerId}/personnel/{personnelId}", {
        params: { path: { partnerId, personnelId: person.id } },
      }),
    )
      .then((now) => {
        setRole(now.role);
        setScope(scopeFrom(now.tenantScope));
      })
      .catch(setFailure)
      .finally(() => setReading(false));
  };

  return (
    <FormDialog
      trigger={t("change")}
      triggerLabel={t("changeLabel", { name })}
      size="small"
      title={t("changeTitle", { name })}
      submitLabel={t("save")}
      valid={!scopeError && !reading}
      onOpen={open}
      submit={() =>
        call(
          api.PATCH("/api/partners/{partnerId}/personnel/{personnelId}", {
            params: { path: { partnerId, personnelId: person.id } },
            body: personnelPatch({ role, tenantScope: scopeBody(scope) }),
          }),
        )
      }
      onDone={onDone}
    >
      {(form) => (
        <>
          {reading ? <Spinner size="tiny" label={tc("loading")} /> : null}
          {failure ? <Problem error={failure} /> : null}
          <Text>{person.email}</Text>
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
