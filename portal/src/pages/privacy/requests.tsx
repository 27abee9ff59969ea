// What the request pages share: the states and types, their colours, the subject's name and the deadline.
import type { Schemas } from "../../api/client";
import { useFormat, useStrings } from "../../i18n";
import { Deadline, daysLeft, useNow } from "./bits";
import { strings } from "./strings";

type Request = Schemas["RequestOut"];
type State = Schemas["RequestState"];
export type T = (key: keyof typeof strings.en, vars?: Record<string, string | number>) => string;

export const requestStates: State[] = [
  "received",
  "awaitingApproval",
  "approved",
  "inProgress",
  "completed",
  "failed",
  "rejected",
  "cancelled",
  "linked",
];
export const requestTypes: Schemas["RequestType"][] = [
  "access",
  "portability",
  "erasure",
  "rectification",
  "restriction",
  "objection",
  "consentWithdrawal",
];

export const stateColour = {
  received: "informative",
  awaitingApproval: "warning",
  approved: "brand",
  inProgress: "brand",
  completed: "success",
  failed: "danger",
  rejected: "subtle",
  cancelled: "subtle",
  linked: "subtle",
} as const satisfies Record<State, string>;

/** States from which the API still lets the request be answered (and so its deadline counts). */
export const openStates: State[] = ["received", "awaitingApproval", "approved", "inProgress", "failed"];
/** States from which it may still be rejected or cancelled. */
export const decidableStates: State[] = ["received", "awaitingApproval", "approved", "failed"];

/** How a request names its subject, in the partner's words. */
export function subjectText(request: Request, t: T): string {
  const subject = request.subject;
  if (!subject) return t("subjectErased");
  if (subject.email) return subject.email;
  if (subject.objectId) return t("subjectObjectId", { id: subject.objectId });
  if (subject.systemUserId) return t("subjectSystemUserId", { id: subject.systemUserId });
  if (subject.phone) return subject.phone;
  return t("subjectErased");
}

/** The due date and, while the request is open, the days left (red once overdue). */
export function RequestDeadline({ request }: { request: Request }) {
  const t = useStrings(strings);
  const format = useFormat();
  const now = useNow();
  const due = format.date(request.dueAt);
  if (!openStates.includes(request.state)) {
    const judged = request.deadlineState === "missed" ? t("deadlineMissed") : request.deadlineState === "met" ? t("deadlineMet") : null;
    return <Deadline text={judged ? `${due} · ${judged}` : due} late={request.deadlineState === "missed"} />;
  }
  const days = daysLeft(request.dueAt, now);
  if (days < 0) return <Deadline text={`${due} · ${t("overdueDays", { days: -days })}`} late />;
  return (
    <Deadline
      text={`${due} · ${days === 0 ? t("dueToday") : t("daysLeft", { days })}`}
      late={false}
      soon={days <= 7}
    />
  );
}
