// Offboard a leaver: say what will happen, take the optional automatic reply and OneDrive colleague, then start it.
import { Field, Switch, Text, Textarea } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../../api/client";
import { useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { FormDialog } from "./FormDialog";
import { strings } from "./strings";
import { UserPicker } from "./UserPicker";

type User = Schemas["UserOut"];
type Offboarding = Schemas["OffboardingOut"];

export function OffboardDialog({
  tenantId,
  user,
  onStarted,
}: {
  tenantId: string;
  user: User;
  onStarted: (operation: Offboarding) => void;
}) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [reply, setReply] = useState(false);
  const [internal, setInternal] = useState("");
  const [external, setExternal] = useState("");
  const [colleague, setColleague] = useState<User | null>(null);
  const name = user.displayName ?? user.userPrincipalName ?? user.id;
  const internalProblem = reply && internal.trim() === "" ? t("form.required") : null;

  const body: Schemas["OffboardingIn"] = {
    autoReply: reply
      ? { internalMessage: internal.trim(), externalMessage: external.trim() === "" ? null : external.trim() }
      : null,
    oneDriveTo: colleague?.id ?? null,
  };

  return (
    <FormDialog<Offboarding>
      trigger={t("offboard.trigger")}
      title={t("offboard.confirm", { name })}
      intro={<Text>{t("offboard.intro", { name })}</Text>}
      submitLabel={t("offboard.submit", { name })}
      valid={!internalProblem}
      onOpen={() => {
        setReply(false);
        setInternal("");
        setExternal("");
        setColleague(null);
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}/offboarding", {
            params: { path: { partnerId, tenantId, userId: user.id } },
            body,
          }),
        )
      }
      onDone={onStarted}
    >
      {(form) => (
        <>
          <Switch checked={reply} onChange={(_, data) => setReply(data.checked)} label={t("offboard.autoReply")} />
          {reply ? (
            <>
              <Field
                label={t("offboard.internal")}
                required
                validationMessage={form.message("internalMessage", internalProblem)}
              >
                <Textarea value={internal} maxLength={4000} onChange={(_, data) => setInternal(data.value)} />
              </Field>
              <Field
                label={t("offboard.external")}
                hint={t("offboard.external.hint")}
                validationMessage={form.message("externalMessage")}
              >
                <Textarea value={external} maxLength={4000} onChange={(_, data) => setExternal(data.value)} />
              </Field>
            </>
          ) : null}
          <UserPicker
            tenantId={tenantId}
            label={t("offboard.oneDrive")}
            hint={t("offboard.oneDrive.hint")}
            exclude={(id) => id === user.id}
            onChange={setColleague}
            validationMessage={form.message("oneDriveTo")}
          />
        </>
      )}
    </FormDialog>
  );
}
