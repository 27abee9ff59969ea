// One delivery of an alert: its state and each attempt (status code, time taken, error), and sending it again.
import {
  Spinner,
  Subtitle2,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useState } from "react";
import { useParams } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { EmptyState } from "../../components/EmptyState";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Facts } from "../privacy/bits";
import { strings } from "./strings";

type Delivery = Schemas["DeliveryOut"];
const FINISHED: Delivery["state"][] = ["delivered", "failed", "refused"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
});

export function DeliveryPage() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const { subscriptionId = "", deliveryId = "" } = useParams();
  const loaded = useLoad(
    () =>
      call(
        api.GET("/api/partners/{partnerId}/alert-subscriptions/{subscriptionId}/deliveries/{deliveryId}", {
          params: { path: { partnerId, subscriptionId, deliveryId } },
        }),
      ),
    [partnerId, subscriptionId, deliveryId],
  );
  const [resent, setResent] = useState<Delivery | null>(null);
  const delivery = resent ?? loaded.data;
  return (
    <PageFrame
      title={delivery ? delivery.title : t("deliveries")}
      actions={
        <>
          <RouteLink to={`/alerts/${subscriptionId}`}>{t("deliveryBack")}</RouteLink>
          {delivery ? (
            <ActionButton
              label={t("resend")}
              disabled={!FINISHED.includes(delivery.state)}
              confirm={{ title: t("resendTitle"), body: t("resendBody") }}
              run={() =>
                call(
                  api.POST("/api/partners/{partnerId}/alert-subscriptions/{subscriptionId}/deliveries/{deliveryId}/resend", {
                    params: { path: { partnerId, subscriptionId, deliveryId } },
                  }),
                )
              }
              onDone={setResent}
              done={(after) => t("resent", { state: t(`delivery.${after.state}`).toLowerCase() })}
            />
          ) : null}
        </>
      }
    >
      {loaded.error ? <Problem error={loaded.error} /> : null}
      {loaded.loading && !delivery ? <Spinner size="small" label={t("deliveries")} /> : null}
      {delivery ? (
        <>
          <Facts
            rows={[
              [t("type"), delivery.alertType],
              [t("severity"), t(`severity.${delivery.severity}`)],
              [t("state"), t(`delivery.${delivery.state}`)],
              [t("when"), format.dateTime(delivery.createdAt)],
              [t("webhookId"), delivery.webhookId],
              [t("tenant"), delivery.tenantId],
              [t("attempts"), format.number(delivery.attempts)],
              [t("statusCode"), delivery.statusCode == null ? null : String(delivery.statusCode)],
              [t("latency"), delivery.latencyMs == null ? null : t("ms", { ms: format.number(delivery.latencyMs) })],
              [t("error"), delivery.error],
              [t("nextAttempt"), delivery.nextAttemptAt ? format.dateTime(delivery.nextAttemptAt) : null],
            ]}
          />
          <section className={styles.section} aria-labelledby="attempts">
            <h2 id="attempts">
              <Subtitle2>{t("attemptsTitle")}</Subtitle2>
            </h2>
            {delivery.history.length === 0 ? (
              <EmptyState>{t("attemptsEmpty")}</EmptyState>
            ) : (
              <Table aria-label={t("attemptsLabel")} size="small">
                <TableHeader>
                  <TableRow>
                    <TableHeaderCell>{t("when")}</TableHeaderCell>
                    <TableHeaderCell>{t("statusCode")}</TableHeaderCell>
                    <TableHeaderCell>{t("latency")}</TableHeaderCell>
                    <TableHeaderCell>{t("error")}</TableHeaderCell>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {delivery.history.map((attempt, index) => (
                    <TableRow key={`${attempt.at}-${index}`}>
                      <TableCell>{format.dateTime(attempt.at)}</TableCell>
                      <TableCell>{attempt.statusCode == null ? "—" : String(attempt.statusCode)}</TableCell>
                      <TableCell>{attempt.latencyMs == null ? "—" : t("ms", { ms: format.number(attempt.latencyMs) })}</TableCell>
                      <TableCell>{attempt.error ?? "—"}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            )}
          </section>
        </>
      ) : null}
    </PageFrame>
  );
}
