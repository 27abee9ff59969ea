// One complaint: its deadline, its answer, and answering or closing it.
import { Badge, Field, Input, MessageBar, MessageBarBody, Spinner, Textarea, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { useParams } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Facts, dayStart } from "../privacy/bits";
import { FormDialog } from "../privacy/FormDialog";
import { ComplaintDeadline, statusColour } from "./Complaints";
import { contactText } from "./ContactFields";
import { strings } from "./strings";

type Complaint = Schemas["ComplaintOut"];

const useStyles = makeStyles({
  row: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap" },
});

export function ComplaintPage() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const { complaintId = "" } = useParams();
  const loaded = useLoad(
    () =>
      call(api.GET("/api/partners/{partnerId}/complaints/{complaintId}", { params: { path: { partnerId, complaintId } } })),
    [partnerId, complaintId],
  );
  const [changed, setChanged] = useState<{ complaint: Complaint; notice: string } | null>(null);
  const complaint = changed?.complaint ?? loaded.data;
  return (
    <PageFrame
      title={complaint ? complaint.subject : t("complaintTitle")}
      description={<RouteLink to="/records">{t("backToComplaints")}</RouteLink>}
    >
      {loaded.error ? <Problem error={loaded.error} /> : null}
      {!complaint && loaded.loading ? <Spinner label={t("loading")} /> : null}
      {complaint ? (
        <>
          {changed ? (
            <MessageBar intent="success" role="status">
              <MessageBarBody>{changed.notice}</MessageBarBody>
            </MessageBar>
          ) : null}
          <Facts
            rows={[
              [
                t("status"),
                <Badge key="status" appearance="tint" color={statusColour[complaint.status]}>
                  {t(`status.${complaint.status}`)}
                </Badge>,
              ],
              [t("answerBy"), <ComplaintDeadline key="due" complaint={complaint} />],
              [t("contact"), contactText(complaint.contact)],
              [t("channel"), t(`channel.${complaint.channel}`)],
              [t("received"), format.dateTime(complaint.receivedAt)],
              [t("complaintDetails"), complaint.details],
              [t("reference"), complaint.reference],
              [t("answeredAt"), complaint.answeredAt ? format.dateTime(complaint.answeredAt) : null],
              [t("answer"), complaint.answer],
              [t("closedAt"), complaint.closedAt ? format.dateTime(complaint.closedAt) : null],
              [t("closeReason"), complaint.closeReason],
            ]}
          />
          <div className={styles.row}>
            {complaint.status === "open" ? (
              <AnswerDialog complaint={complaint} onDone={(next) => setChanged({ complaint: next, notice: t("answeredNotice") })} />
            ) : null}
            {complaint.status !== "closed" ? (
              <CloseDialog complaint={complaint} onDone={(next) => setChanged({ complaint: next, notice: t("closedNotice") })} />
            ) : null}
          </div>
        </>
      ) : null}
    </PageFrame>
  );
}

function AnswerDialog({ complaint, onDone }: { complaint: Complaint; onDone: (complaint: Complaint) => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [summary, setSummary] = useState("");
  const [answered, setAnswered] = useState("");
  const summaryError = summary.trim() ? null : t("errorRequired");
  return (
    <FormDialog
      trigger={t("answerComplaint")}
      title={t("answerTitle")}
      intro={t("answerIntro")}
      submitLabel={t("answerSubmit")}
      appearance="primary"
      valid={!summaryError}
      onOpen={() => {
        setSummary("");
        setAnswered("");
      }}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/complaints/{complaintId}/answer", {
            params: { path: { partnerId, complaintId: complaint.id } },
            body: { summary: summary.trim(), answeredAt: dayStart(answered) },
          }),
        )
      }
      onDone={onDone}
    >
      {(form) => (
        <>
          <Field label={t("answerSummary")} required validationMessage={form.message("summary", summaryError)}>
            <Textarea value={summary} onChange={(_, data) => setSummary(data.value)} maxLength={4000} />
          </Field>
          <Field label={t("answeredOn")} hint={t("answeredOnHint")} validationMessage={form.message("answeredAt")}>
            <Input type="date" value={answered} onChange={(_, data) => setAnswered(data.value)} />
          </Field>
        </>
      )}
    </FormDialog>
  );
}

function CloseDialog({ complaint, onDone }: { complaint: Complaint; onDone: (complaint: Complaint) => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [reason, setReason] = useState("");
  const unanswered = complaint.status === "open";
  const reasonError = unanswered && !reason.trim() ? t("errorCloseReason") : null;
  return (
    <FormDialog
      trigger={t("closeComplaint")}
      title={t("closeTitle")}
      intro={unanswered ? t("closeIntroUnanswered") : t("closeIntroAnswered")}
      submitLabel={t("closeComplaint")}
      valid={!reasonError}
      onOpen={() => setReason("")}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/complaints/{complaintId}/close", {
            params: { path: { partnerId, complaintId: complaint.id } },
            body: { reason: reason.trim() || null },
          }),
        )
      }
      onDone={onDone}
    >
      {(form) => (
        <Field label={t("closeReason")} required={unanswered} validationMessage={form.message("reason", reasonError)}>
          <Textarea value={reason} onChange={(_, data) => setReason(data.value)} maxLength={1000} />
        </Field>
      )}
    </FormDialog>
  );
}
