// One data-subject request: its state, deadline, verification and outcome, and what can be done with it now.
import {
  Badge,

  MessageBar,
  MessageBarBody,
  Spinner,
  Subtitle2,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { useParams } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Facts, who } from "./bits";
import { Certificate, ExportLink } from "./RequestOutcome";
import { RequestActions } from "./RequestActions";
import { RequestDeadline, stateColour, subjectText } from "./requests";
import { strings } from "./strings";

type Request = Schemas["RequestOut"];
const POLL_MS = 3000;

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
});

export function RequestPage() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const { requestId = "" } = useParams();
  const loaded = useLoad(
    () =>
      call(
        api.GET("/api/partners/{partnerId}/privacy/requests/{requestId}", {
          params: { path: { partnerId, requestId } },
        }),
      ),
    [partnerId, requestId],
  );
  const [changed, setChanged] = useState<{ request: Request; notice: string } | null>(null);
  const request = loaded.data && changed && changed.request.updatedAt <= loaded.data.updatedAt ? loaded.data : (changed?.request ?? loaded.data);
  const inProgress = request?.state === "inProgress";
  const { reload } = loaded;

  // While the request is being carried out, read it again now and then until it completes or fails.
  useEffect(() => {
    if (!inProgress) return;
    const timer = window.setInterval(reload, POLL_MS);
    return () => window.clearInterval(timer);
  }, [inProgress, reload]);

  const title = request ? `${t(`type.${request.type}`)}: ${subjectText(request, t)}` : t("requestTitle");
  return (
    <PageFrame
      title={title}
      description={<RouteLink to="/privacy">{t("backToRequests")}</RouteLink>}
    >
      {loaded.error ? <Problem error={loaded.error} /> : null}
      {!request && loaded.loading ? <Spinner label={t("loading")} /> : null}
      {request ? (
        <>
          {changed?.notice ? (
            <MessageBar intent="success" role="status">
              <MessageBarBody>{changed.notice}</MessageBarBody>
            </MessageBar>
          ) : null}
          <section className={styles.section} aria-labelledby="request-state">
            <h2 id="request-state">
              <Subtitle2>{t("stateAndDeadline")}</Subtitle2>
            </h2>
            <Facts
              rows={[
                [
                  t("state"),
                  <Badge key="state" appearance="tint" color={stateColour[request.state]}>
                    {t(`state.${request.state}`)}
                  </Badge>,
                ],
                [t("deadline"), <RequestDeadline key="due" request={request} />],
                [t("received"), format.dateTime(request.receivedAt)],
                [
                  t("extension"),
                  request.extension
                    ? t("extensionText", {
                        days: request.extension.days,
                        previous: format.date(request.extension.previousDueAt),
                        reason: request.extension.reason,
                      })
                    : null,
                ],
                [t("closed"), request.closedAt ? format.dateTime(request.closedAt) : null],
              ]}
            />
            <RequestActions request={request} onChange={(next, notice) => setChanged({ request: next, notice })} />
            {inProgress ? <Spinner size="small" label={t("inProgressNote")} /> : null}
          </section>
          <section className={styles.section} aria-labelledby="request-details">
            <h2 id="request-details">
              <Subtitle2>{t("details")}</Subtitle2>
            </h2>
            <Facts
              rows={[
                [t("type"), t(`type.${request.type}`)],
                [t("subject"), subjectText(request, t)],
                [t("tenant"), request.tenantId],
                [t("organisation"), request.orgId],
                [t("reference"), request.reference],
                [
                  t("changes"),
                  request.changes
                    ? Object.entries(request.changes)
                        .map(([field, value]) => `${field} = ${String(value)}`)
                        .join("; ")
                    : null,
                ],
                [t("liftShort"), request.lift ? t("yes") : null],
                [
                  t("verification"),
                  request.verification
                    ? t("verificationText", {
                        method: t(`method.${request.verification.method as Schemas["VerifyIn"]["method"]}`),
                        note: request.verification.note,
                        by: who(request.verification.verifiedBy) ?? "—",
                        at: format.dateTime(request.verification.verifiedAt),
                      })
                    : null,
                ],
                [
                  t("approval"),
                  request.approvedAt
                    ? t("approvalText", { by: who(request.approvedBy) ?? "—", at: format.dateTime(request.approvedAt) })
                    : null,
                ],
                [t("reason"), request.reason],
                [
                  t("failure"),
                  request.failure
                    ? `${request.failure.detail} (${request.failure.kind}, ${format.dateTime(request.failure.failedAt)})`
                    : null,
                ],
                [t("attempts"), request.attempts ? format.number(request.attempts) : null],
                [
                  t("duplicateOf"),
                  request.duplicateOf ? (
                    <RouteLink key="dup" to={`/privacy/requests/${request.duplicateOf}`}>
                      {t("openRequest")}
                    </RouteLink>
                  ) : null,
                ],
                [
                  t("forwarded"),
                  request.forwarded ? t("forwardedText", { at: format.dateTime(request.forwarded.at) }) : null,
                ],
                [t("outcome"), request.outcome ? <Outcome key="outcome" outcome={request.outcome} /> : null],
              ]}
            />
          </section>
          {request.state === "completed" && request.type === "erasure" ? <Certificate request={request} /> : null}
          {request.state === "completed" && (request.type === "access" || request.type === "portability") ? (
            <ExportLink request={request} />
          ) : null}
        </>
      ) : null}
    </PageFrame>
  );
}

/** What the execution did, as counts (the API never returns content here). */
function Outcome({ outcome }: { outcome: Record<string, unknown> }) {
  const format = useFormat();
  return (
    <ul>
      {Object.entries(outcome).map(([key, value]) => (
        <li key={key}>
          {key}: {typeof value === "number" ? format.number(value) : typeof value === "object" ? JSON.stringify(value) : String(value)}
        </li>
      ))}
    </ul>
  );
}

