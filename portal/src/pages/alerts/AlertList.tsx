// The partner's alert subscriptions (within the person's reach), subscribing a new one, and the notices.
import { Subtitle2, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { CreateSubscription } from "./CreateSubscription";
import { Notices } from "./Notices";
import { SecretOnce } from "./SecretOnce";
import { destination } from "./destination";
import { strings } from "./strings";

type Subscription = Schemas["AlertSubscriptionOut"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
});

export function AlertList() {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const [round, setRound] = useState(0);
  const [created, setCreated] = useState<Schemas["SubscriptionCreated"] | null>(null);
  return (
    <PageFrame
      title={t("title")}
      description={t("description")}
      actions={
        <CreateSubscription
          onCreated={(subscription) => {
            setCreated(subscription);
            setRound((r) => r + 1);
          }}
        />
      }
    >
      {created ? (
        <section className={styles.section} aria-labelledby="created">
          <h2 id="created">
            <Subtitle2>{t("subscribed")}</Subtitle2>
          </h2>
          <RouteLink to={`/alerts/${created.id}`}>
            {t("subscriptionTitle", { channel: t(`channel.${created.channel}`), destination: destination(created) })}
          </RouteLink>
          {created.secret ? <SecretOnce secret={created.secret} /> : null}
        </section>
      ) : null}
      <section className={styles.section} aria-labelledby="subscriptions">
      <h2 id="subscriptions">
        <Subtitle2>{t("subscriptionsLabel")}</Subtitle2>
      </h2>
      <PagedTable<Subscription>
        label={t("subscriptionsLabel")}
        rowKey={(s) => s.id}
        empty={t("subscriptionsEmpty")}
        resetOn={[partnerId, round]}
        // The API answers every subscription within reach at once (no continuation to follow).
        load={() =>
          call(api.GET("/api/partners/{partnerId}/alert-subscriptions", { params: { path: { partnerId } } }))
        }
        columns={[
          {
            key: "destination",
            header: t("destination"),
            cell: (s) => <RouteLink to={`/alerts/${s.id}`}>{s.description || destination(s)}</RouteLink>,
          },
          { key: "channel", header: t("channel"), cell: (s) => t(`channel.${s.channel}`) },
          { key: "events", header: t("events"), cell: (s) => s.eventTypes.join(", ") },
          {
            key: "severity",
            header: t("minSeverity"),
            cell: (s) => `${t(`severity.${s.minSeverity}`)}${s.digest ? ` · ${t("digestOn")}` : ""}`,
          },
          { key: "state", header: t("state"), cell: (s) => t(`state.${s.state}`) },
        ]}
      />
      </section>
      <Notices />
    </PageFrame>
  );
}
