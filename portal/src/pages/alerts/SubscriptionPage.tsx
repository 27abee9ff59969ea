// One alert subscription: what it hears, changing it, turning it off and on, rotating its secret,
// deleting it, and its delivery log page by page.
import { Spinner, Subtitle2, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { useNavigate, useParams } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { Problem } from "../../components/Problem";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Facts } from "../privacy/bits";
import { EditSubscription } from "./EditSubscription";
import { RotateSecret } from "./RotateSecret";
import { SecretOnce } from "./SecretOnce";
import { destination } from "./destination";
import { strings } from "./strings";

type Subscription = Schemas["AlertSubscriptionOut"];
type Delivery = Schemas["DeliveryOut"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
  actions: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap", alignItems: "start" },
});

function Deliveries({ subscriptionId }: { subscriptionId: string }) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  return (
    <section className={styles.section} aria-labelledby="deliveries">
      <h2 id="deliveries">
        <Subtitle2>{t("deliveries")}</Subtitle2>
      </h2>
      <Text>{t("deliveriesIntro")}</Text>
      <PagedTable<Delivery>
        label={t("deliveriesLabel")}
        rowKey={(d) => d.id}
        empty={t("deliveriesEmpty")}
        resetOn={[partnerId, subscriptionId]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/alert-subscriptions/{subscriptionId}/deliveries", {
              params: { path: { partnerId, subscriptionId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          { key: "when", header: t("when"), cell: (d) => format.dateTime(d.createdAt) },
          {
            key: "alert",
            header: t("alert"),
            cell: (d) => <RouteLink to={`/alerts/${subscriptionId}/deliveries/${d.id}`}>{d.title}</RouteLink>,
          },
          { key: "severity", header: t("severity"), cell: (d) => t(`severity.${d.severity}`) },
          { key: "state", header: t("state"), cell: (d) => t(`delivery.${d.state}`) },
          { key: "attempts", header: t("attempts"), cell: (d) => format.number(d.attempts) },
          { key: "status", header: t("statusCode"), cell: (d) => (d.statusCode == null ? "—" : String(d.statusCode)) },
          {
            key: "latency",
            header: t("latency"),
            cell: (d) => (d.latencyMs == null ? "—" : t("ms", { ms: format.number(d.latencyMs) })),
          },
        ]}
      />
    </section>
  );
}

export function SubscriptionPage() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const navigate = useNavigate();
  const { partnerId } = useSession();
  const { subscriptionId = "" } = useParams();
  const loaded = useLoad(
    () =>
      call(
        api.GET("/api/partners/{partnerId}/alert-subscriptions/{subscriptionId}", {
          params: { path: { partnerId, subscriptionId } },
        }),
      ),
    [partnerId, subscriptionId],
  );
  const [changed, setChanged] = useState<Subscription | null>(null);
  const [rotated, setRotated] = useState<Schemas["SecretRotated"] | null>(null);
  const subscription = changed ?? loaded.data;

  const setState = (state: Schemas["AlertSubscriptionState"]) =>
    call(
      api.PATCH("/api/partners/{partnerId}/alert-subscriptions/{subscriptionId}", {
        params: { path: { partnerId, subscriptionId } },
        body: {
          state,
          eventTypes: null,
          minSeverity: null,
          digest: null,
          description: null,
          unassignedLicencesThreshold: null,
        },
      }),
    );

  const title = subscription
    ? t("subscriptionTitle", { channel: t(`channel.${subscription.channel}`), destination: destination(subscription) })
    : t("title");

  return (
    <PageFrame
      title={title}
      description={subscription?.description ?? undefined}
      actions={
        <>
          <RouteLink to="/alerts">{t("back")}</RouteLink>
          {subscription ? (
            <div className={styles.actions}>
              <EditSubscription subscription={subscription} onSaved={setChanged} />
              {subscription.state === "active" ? (
                <ActionButton
                  label={t("turnOff")}
                  confirm={{ title: t("turnOffTitle"), body: t("turnOffBody") }}
                  run={() => setState("disabled")}
                  onDone={setChanged}
                  done={() => t("turnedOff")}
                />
              ) : (
                <ActionButton label={t("turnOn")} run={() => setState("active")} onDone={setChanged} done={() => t("turnedOn")} />
              )}
              {subscription.channel === "webhook" ? (
                <RotateSecret subscriptionId={subscription.id} onRotated={setRotated} />
              ) : null}
              <ActionButton
                label={t("delete")}
                confirm={{ title: t("deleteTitle"), body: t("deleteBody", { destination: destination(subscription) }) }}
                run={() =>
                  call(
                    api.DELETE("/api/partners/{partnerId}/alert-subscriptions/{subscriptionId}", {
                      params: { path: { partnerId, subscriptionId } },
                    }),
                  )
                }
                onDone={() => navigate("/alerts")}
              />
            </div>
          ) : null}
        </>
      }
    >
      {loaded.error ? <Problem error={loaded.error} /> : null}
      {loaded.loading && !subscription ? <Spinner size="small" label={t("title")} /> : null}
      {rotated ? (
        <SecretOnce secret={rotated.secret} note={t("rotated", { until: format.dateTime(rotated.previousValidUntil) })} />
      ) : null}
      {subscription ? (
        <>
          <Facts
            rows={[
              [t("channel"), t(`channel.${subscription.channel}`)],
              [t("destination"), destination(subscription)],
              [t("events"), subscription.eventTypes.join(", ")],
              [t("minSeverity"), t(`severity.${subscription.minSeverity}`)],
              [t("digestOn"), subscription.digest ? t("state.active") : t("state.disabled")],
              [t("threshold"), format.number(subscription.unassignedLicencesThreshold)],
              [
                t("tenantScope"),
                subscription.tenantScope
                  ? [...subscription.tenantScope.tenantIds, ...subscription.tenantScope.groups].join(", ")
                  : t("everyTenant"),
              ],
              [t("state"), t(`state.${subscription.state}`)],
              [t("disabledReason"), subscription.disabledReason],
              [t("created"), format.dateTime(subscription.createdAt)],
              [t("secretRotatedAt"), subscription.secretRotatedAt ? format.dateTime(subscription.secretRotatedAt) : null],
            ]}
          />
          <Deliveries subscriptionId={subscription.id} />
        </>
      ) : null}
    </PageFrame>
  );
}
