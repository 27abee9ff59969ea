// Create an end user from the tenant's template; the one-time password is shown here once and kept nowhere.
import { Button, Field, Input, Text } from "@fluentui/react-components";
import { useState } from "react";
import { useNavigate } from "react-router";
import { api, call, type Schemas } from "../../../api/client";
import { CopyField } from "../../../components/CopyField";
import { useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { COUNTRY } from "./EditUserDialog";
import { FormDialog } from "./FormDialog";
import { useParamLink } from "./links";
import { strings } from "./strings";

type Created = Schemas["UserCreatedOut"];

// As the API checks it (UserCreateIn.userPrincipalName).
const UPN = /^[A-Za-z0-9._'-]{1,64}@[A-Za-z0-9.-]{1,48}$/;

export function CreateUserDialog({ tenantId, onCreated }: { tenantId: string; onCreated: () => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const link = useParamLink();
  const navigate = useNavigate();
  const [displayName, setDisplayName] = useState("");
  const [upn, setUpn] = useState("");
  const [givenName, setGivenName] = useState("");
  const [surname, setSurname] = useState("");
  const [usageLocation, setUsageLocation] = useState("");

  const nameProblem = displayName.trim() === "" ? t("form.required") : null;
  const upnProblem = upn.trim() === "" ? t("form.required") : UPN.test(upn.trim()) ? null : t("form.upn");
  const locationProblem = usageLocation !== "" && !COUNTRY.test(usageLocation) ? t("form.country") : null;

  return (
    <FormDialog<Created>
      trigger={t("create.trigger")}
      appearance="primary"
      title={t("create.title")}
      intro={<Text>{t("create.intro")}</Text>}
      submitLabel={t("create.submit")}
      valid={!nameProblem && !upnProblem && !locationProblem}
      onOpen={() => {
        setDisplayName("");
        setUpn("");
        setGivenName("");
        setSurname("");
        setUsageLocation("");
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/tenants/{tenantId}/users", {
            params: { path: { partnerId, tenantId } },
            body: {
              displayName: displayName.trim(),
              userPrincipalName: upn.trim(),
              givenName: givenName.trim() || null,
              surname: surname.trim() || null,
              usageLocation: usageLocation || null,
            },
          }),
        )
      }
      onDone={onCreated}
      after={(created, close) => (
        <>
          <Text>
            {t("create.done", {
              name: created.user.displayName ?? created.user.userPrincipalName ?? created.user.id,
              licences: created.licences.length,
              groups: created.groups.length,
            })}
          </Text>
          <CopyField
            label={t("security.oneTimePassword", { name: created.user.displayName ?? "" })}
            value={created.temporaryPassword}
            hint={t("security.oneTimePassword.hint")}
          />
          <div>
            {/* The dialog closes first, so its focus trap lets go of the page it opens. */}
            <Button
              onClick={() => {
                close();
                void navigate(link({ user: created.user.id }));
              }}
            >
              {t("create.open")}
            </Button>
          </div>
        </>
      )}
    >
      {(form) => (
        <>
          <Field label={t("user.name")} required validationMessage={form.message("displayName", nameProblem)}>
            <Input value={displayName} maxLength={256} onChange={(_, data) => setDisplayName(data.value)} />
          </Field>
          <Field
            label={t("user.upn")}
            required
            hint={t("create.upn.hint")}
            validationMessage={form.message("userPrincipalName", upnProblem)}
          >
            <Input value={upn} maxLength={113} onChange={(_, data) => setUpn(data.value)} />
          </Field>
          <Field label={t("create.givenName")} validationMessage={form.message("givenName")}>
            <Input value={givenName} maxLength={256} onChange={(_, data) => setGivenName(data.value)} />
          </Field>
          <Field label={t("create.surname")} validationMessage={form.message("surname")}>
            <Input value={surname} maxLength={256} onChange={(_, data) => setSurname(data.value)} />
          </Field>
          <Field
            label={t("user.usageLocation")}
            hint={t("create.usageLocation.hint")}
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
