// The complaint register, oldest first: each complaint's deadline (four weeks) and whether it was answered.
import { Badge, Field, Select } from "@fluentui/react-components";
import { useState } from "react";
import { useNavigate } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Deadline, daysLeft, useNow } from "../privacy/bits";
import { FileComplaint } from "./FileComplaint";
import { RecordsLinks } from "./RecordsLinks";
import { strings } from "./strings";

type Complaint = Schemas["ComplaintOut"];
type Status = Schemas["ComplaintStatus"];

export const statusColour = { open: "warning", answered: "success", closed: "subtle" } as const;

/** The due date and, while open, the days left (red once passed); afterwards whether it was answered in time. */
export function ComplaintDeadline({ complaint }: { complaint: Complaint }) {
  const t = useStrings(strings);
  const format = useFormat();
  const now = useNow();
  const due = format.date(complaint.dueAt);
  if (complaint.status !== "open") {
    const judged = complaint.deadlineState === "met" ? t("deadlineMet") : complaint.deadlineState === "missed" ? t("deadlineMissed") : null;
    return <Deadline text={judged ? `${due} · ${judged}` : due} late={complaint.deadlineState === "missed"} />;
  }
  const days = daysLeft(complaint.dueAt, now);
  if (days < 0) return <Deadline text={`${due} · ${t("overdueDays", { days: -days })}`} late />;
  return <Deadline text={`${due} · ${t("daysLeft", { days })}`} late={false} soon={days <= 7} />;
}

export function Complaints() {
  const t = useStrings(strings);
  const format = useFormat();
  const navigate = useNavigate();
  const { partnerId } = useSession();
  const [status, setStatus] = useState<Status | "">("");
  return (
    <PageFrame
      title={t("complaintsTitle")}
      description={t("complaintsDescription")}
      actions={
        <>
          <RecordsLinks />
          <FileComplaint onDone={(complaint) => void navigate(`/records/complaints/${complaint.id}`)} />
        </>
      }
    >
      <Field label={t("status")}>
        <Select value={status} onChange={(_, data) => setStatus(data.value as Status | "")}>
          <option value="">{t("all")}</option>
          <option value="open">{t("status.open")}</option>
          <option value="answered">{t("status.answered")}</option>
          <option value="closed">{t("status.closed")}</option>
        </Select>
      </Field>
      <PagedTable<Complaint>
        label={t("complaintsTitle")}
        rowKey={(complaint) => complaint.id}
        empty={status ? t("complaintsEmptyFiltered") : t("complaintsEmpty")}
        resetOn={[partnerId, status]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/complaints", {
              params: { path: { partnerId }, query: { continuationToken, status: status || undefined } },
            }),
          )
        }
        columns={[
          {
            key: "subject",
            header: t("complaintSubject"),
            cell: (complaint) => <RouteLink to={`/records/complaints/${complaint.id}`}>{complaint.subject}</RouteLink>,
          },
          { key: "contact", header: t("contact"), cell: (complaint) => String(complaint.contact.name ?? "—") },
          { key: "channel", header: t("channel"), cell: (complaint) => t(`channel.${complaint.channel}`) },
          { key: "received", header: t("received"), cell: (complaint) => format.date(complaint.receivedAt) },
          { key: "due", header: t("answerBy"), cell: (complaint) => <ComplaintDeadline complaint={complaint} /> },
          {
            key: "status",
            header: t("status"),
            cell: (complaint) => (
              <Badge appearance="tint" color={statusColour[complaint.status]}>
                {t(`status.${complaint.status}`)}
              </Badge>
            ),
          },
        ]}
      />
    </PageFrame>
  );
}
