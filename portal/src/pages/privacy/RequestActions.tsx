// A data-subject request's lifecycle actions, each offered only in the states the API allows it.
import { Field, Input, Select, Textarea, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "./FormDialog";
import { decidableStates, openStates } from "./requests";
import { strings } from "./strings";

type Request = Schemas["RequestOut"];
type Method = Schemas["VerifyIn"]["method"];
const methods: Method[] = ["controllerConfirmed", "signedInAccount", "emailChallenge", "identityDocument", "other"];
const MAX_EXTENSION_DAYS = 60;

const useStyles = makeStyles({
  row: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap", alignItems: "flex-start" },
});

type Props = { request: Request; onChange: (request: Request, what: string) => void };

export function RequestActions({ request, onChange }: Props) {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const path = { partnerId, requestId: request.id };
  const state = request.state;
  const canExtend = openStates.includes(state) && !request.extension && new Date(request.dueAt).getTime() >= Date.now();
  return (
    <div className={styles.row}>
      {state === "received" ? <VerifyDialog request={request} onChange={onChange} /> : null}
      {state === "awaitingApproval" ? (
        <ActionButton
          label={t("approve")}
          appearance="primary"
          confirm={{ title: t("approveTitle"), body: t("approveBody") }}
          run={() => call(api.POST("/api/partners/{partnerId}/privacy/requests/{requestId}/approve", { params: { path } }))}
          onDone={(next) => onChange(next, t("approvedNotice"))}
        />
      ) : null}
      {state === "approved" || state === "failed" ? (
        <ActionButton
          label={state === "failed" ? t("retry") : t("execute")}
          appearance="primary"
          confirm={{
            title: t("executeTitle"),
            body: request.type === "erasure" ? t("executeBodyErasure") : t("executeBody"),
          }}
          run={() => call(api.POST("/api/partners/{partnerId}/privacy/requests/{requestId}/execute", { params: { path } }))}
          onDone={(next) => onChange(next, t("executingNotice"))}
        />
      ) : null}
      {canExtend ? <ExtendDialog request={request} onChange={onChange} /> : null}
      {decidableStates.includes(state) ? (
        <ReasonDialog
          trigger={t("reject")}
          title={t("rejectTitle")}
          intro={t("rejectIntro")}
          required
          submit={(reason) =>
            call(
              api.POST("/api/partners/{partnerId}/privacy/requests/{requestId}/reject", {
                params: { path },
                body: { reason },
              }),
            )
          }
          onDone={(next) => onChange(next, t("rejectedNotice"))}
        />
      ) : null}
      {decidableStates.includes(state) ? (
        <ReasonDialog
          trigger={t("cancelRequest")}
          title={t("cancelTitle")}
          intro={t("cancelIntro")}
          required={false}
          submit={(reason) =>
            call(
              api.POST("/api/partners/{partnerId}/privacy/requests/{requestId}/cancel", {
                params: { path },
                body: { reason: reason || null },
              }),
            )
          }
          onDone={(next) => onChange(next, t("cancelledNotice"))}
        />
      ) : null}
    </div>
  );
}

function VerifyDialog({ request, onChange }: Props) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [method, setMethod] = useState<Method>("controllerConfirmed");
  const [note, setNote] = useState("");
  const noteError = !note.trim() ? t("errorRequired") : null;
  return (
    <FormDialog
      trigger={t("verify")}
      title={t("verifyTitle")}
      intro={t("verifyIntro")}
      submitLabel={t("verifySubmit")}
      appearance="primary"
      valid={!noteError}
      onOpen={() => {
        setMethod("controllerConfirmed");
        setNote("");
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/privacy/requests/{requestId}/verify", {
            params: { path: { partnerId, requestId: request.id } },
            body: { method, note: note.trim() },
          }),
        )
      }
      onDone={(next) => onChange(next, t("verifiedNotice"))}
    >
      {(form) => (
        <>
          <Field label={t("verifyMethod")} required validationMessage={form.message("method")}>
            <Select value={method} onChange={(_, data) => setMethod(data.value as Method)}>
              {methods.map((m) => (
                <option key={m} value={m}>
                  {t(`method.${m}`)}
                </option>
              ))}
            </Select>
          </Field>
          <Field label={t("verifyNote")} hint={t("verifyNoteHint")} required validationMessage={form.message("note", noteError)}>
            <Textarea value={note} onChange={(_, data) => setNote(data.value)} maxLength={1000} />
          </Field>
        </>
      )}
    </FormDialog>
  );
}

function ExtendDialog({ request, onChange }: Props) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [days, setDays] = useState("30");
  const [reason, setReason] = useState("");
  const count = Number(days);
  const daysError =
    !Number.isInteger(count) || count < 1 || count > MAX_EXTENSION_DAYS ? t("errorDays", { max: MAX_EXTENSION_DAYS }) : null;
  const reasonError = !reason.trim() ? t("errorRequired") : null;
  return (
    <FormDialog
      trigger={t("extend")}
      title={t("extendTitle")}
      intro={t("extendIntro", { max: MAX_EXTENSION_DAYS })}
      submitLabel={t("extendSubmit")}
      valid={!daysError && !reasonError}
      onOpen={() => {
        setDays("30");
        setReason("");
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/privacy/requests/{requestId}/extend", {
            params: { path: { partnerId, requestId: request.id } },
            body: { days: count, reason: reason.trim() },
          }),
        )
      }
      onDone={(next) => onChange(next, t("extendedNotice"))}
    >
      {(form) => (
        <>
          <Field label={t("extendDays")} required validationMessage={form.message("days", daysError)}>
            <Input type="number" min={1} max={MAX_EXTENSION_DAYS} value={days} onChange={(_, data) => setDays(data.value)} />
          </Field>
          <Field label={t("extendReason")} hint={t("extendReasonHint")} required validationMessage={form.message("reason", reasonError)}>
            <Textarea value={reason} onChange={(_, data) => setReason(data.value)} maxLength={1000} />
          </Field>
        </>
      )}
    </FormDialog>
  );
}

function ReasonDialog({
  trigger,
  title,
  intro,
  required,
  submit,
  onDone,
}: {
  trigger: string;
  title: string;
  intro: string;
  required: boolean;
  submit: (reason: string) => Promise<Request>;
  onDone: (request: Request) => void;
}) {
  const t = useStrings(strings);
  const [reason, setReason] = useState("");
  const reasonError = required && !reason.trim() ? t("errorRequired") : null;
  return (
    <FormDialog
      trigger={trigger}
      title={title}
      intro={intro}
      submitLabel={trigger}
      valid={!reasonError}
      onOpen={() => setReason("")}
      submit={() => submit(reason.trim())}
      onDone={onDone}
    >
      {(form) => (
        <Field label={t("reason")} required={required} validationMessage={form.message("reason", reasonError)}>
          <Textarea value={reason} onChange={(_, data) => setReason(data.value)} maxLength={1000} />
        </Field>
      )}
    </FormDialog>
  );
}
