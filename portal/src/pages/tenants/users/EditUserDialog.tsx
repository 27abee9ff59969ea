// Change an end user's display name and usage location (what the API lets a partner change).
import { Field, Input } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../../api/client";
import { useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { FormDialog } from "./FormDialog";
import { strings } from "./strings";

type User = Schemas["UserOut"];

export const COUNTRY = /^[A-Z]{2}$/;

export function EditUserDialog({ tenantId, user, onSaved }: { tenantId: string; user: User; onSaved: (u: User) => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [displayName, setDisplayName] = useState("");
  const [usageLocation, setUsageLocation] = useState("");
  const name = user.displayName ?? user.userPrincipalName ?? user.id;

  const nameProblem = displayName.trim() === "" ? t("form.required") : null;
  const locationProblem = usageLocation !== "" && !COUNTRY.test(usageLocation) ? t("form.country") : null;
  // Only what changed is sent; null leaves a field as it is.
  const body: Schemas["UserPatch"] = {
    accountEnabled: null,
    displayName: displayName.trim() !== (user.displayName ?? "") ? displayName.trim() : null,
    usageLocation: usageLocation !== "" && usageLocation !== (user.usageLocation ?? "") ? usageLocation : null,
  };

  return (
    <FormDialog<User>
      trigger={t("edit.trigger")}
      title={t("edit.title", { name })}
      submitLabel={t("edit.save")}
      valid={!nameProblem && !locationProblem}
      onOpen={() => {
        setDisplayName(user.displayName ?? "");
        setUsageLocation(user.usageLocation ?? "");
      }}
      submit={() =>
        body.displayName === null && body.usageLocation === null
          ? Promise.resolve(user)
          : call(
              api.PATCH("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}", {
                params: { path: { partnerId, tenantId, userId: user.id } },
                body,
              }),
            )
      }
      onDone={onSaved}
    >
      {(form) => (
        <>
          <Field label={t("user.name")} required validationMessage={form.message("displayName", nameProblem)}>
            <Input value={displayName} maxLength={256} onChange={(_, data) => setDisplayName(data.value)} />
          </Field>
          <Field
            label={t("user.usageLocation")}
            hint={t("form.country.hint")}
            validationMessage={form.message("usageLocation", locationProblem)}
          >
            <Input
              value={usageLocation}
              maxLength={2}
              onChange={(_, data) => setUsageLocation(data.value.toUpperCase())}
            />
          </Field>
        </>
      )}
    </FormDialog>
  );
}
