// One notification: what made it, its counts, and each device's outcome (paged), where a device can be unsubscribed.
import { Badge, Spinner, Text } from "@fluentui/react-components";
import { useState } from "react";
import { useParams } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { common } from "../../strings";
import { Facts, LinkButton, Long, Section } from "./bits";
import { useAudience } from "./Notifications";
import { strings } from "./strings";

type Outcome = Schemas["DeviceOutcome"];
const stateColour = { sent: "success", failed: "danger", sending: "informative", retrying: "warning" } as const;

export default function NotificationPage() {
  const t = useStrings(strings);
  const tc = useStrings(common);
  const format = useFormat();
  const audience = useAudience();
  const { partnerId } = useSession();
  const { orgId = "", notificationId = "" } = useParams();
  const [round, setRound] = useState(0);
  const path = { partnerId, orgId, notificationId };
  const loaded = useLoad(
    () =>
      call(
        api.GET("/api/partners/{partnerId}/orgs/{orgId}/notifications/{notificationId}", {
          params: { path, query: { top: 1 } },
        }),
      ),
    [partnerId, orgId, notificationId, round],
  );
  const back = <LinkButton to={`/dynamics/${orgId}?tab=notifications`}>{t("backToNotifications")}</LinkButton>;
  const n = loaded.data;
  if (!n) {
    return (
      <PageFrame title={t("notification")} actions={back}>
        {loaded.error ? <Problem error={loaded.error} /> : <Spinner label={tc("loading")} />}
      </PageFrame>
    );
  }
  const what = n.source === "webhook" ? t("eventLine", { entity: n.entity ?? "", message: n.message ?? "" }) : t("source.partner");
  return (
    <PageFrame title={t("notificationTitle", { what })} description={format.dateTime(n.createdAt)} actions={back}>
      <Section title={t("deliveryTitle")}>
        <Facts
          rows={[
            [t("state"), t(`state.${n.state}`)],
            [t("recipients"), audience(n)],
            [t("devices"), format.number(n.deviceCount)],
            [t("sent"), format.number(n.sent)],
            [t("delivered"), format.number(n.delivered)],
            [t("failed"), format.number(n.failed)],
            [t("pending"), format.number(n.pending)],
            [t("completedAt"), n.completedAt ? format.dateTime(n.completedAt) : null],
            [t("recordId"), n.recordId],
          ]}
        />
        {n.needsRecord ? <Text>{t("needsRecord")}</Text> : null}
      </Section>
      <Section title={t("devicesTitle")}>
        <Text>{t("devicesExplain")}</Text>
        <PagedTable<Outcome>
          label={t("devicesLabel")}
          rowKey={(d) => d.deviceId}
          empty={t("devicesEmpty")}
          resetOn={[partnerId, orgId, notificationId, round]}
          load={async (continuationToken) => {
            const page = await call(
              api.GET("/api/partners/{partnerId}/orgs/{orgId}/notifications/{notificationId}", {
                params: { path, query: { continuationToken } },
              }),
            );
            return { items: page.devices ?? [], continuationToken: page.devicesContinuationToken };
          }}
          columns={[
            { key: "user", header: t("systemUserId"), cell: (d) => <Long>{d.systemUserId ?? "—"}</Long> },
            { key: "device", header: t("device"), cell: (d) => <Long>{d.deviceId}</Long> },
            {
              key: "state",
              header: t("state"),
              cell: (d) => (
                <Badge appearance="tint" color={stateColour[d.state]}>
                  {t(`outcome.${d.state}`)}
                </Badge>
              ),
            },
            { key: "attempts", header: t("attempts"), cell: (d) => format.number(d.attempts) },
            { key: "sentAt", header: t("sentAt"), cell: (d) => format.dateTime(d.sentAt) },
            { key: "deliveredAt", header: t("deliveredAt"), cell: (d) => format.dateTime(d.deliveredAt) },
            { key: "error", header: t("error"), cell: (d) => [d.errorCode, d.reason].filter(Boolean).join(": ") || "—" },
            {
              key: "remove",
              header: t("actions"),
              cell: (d) =>
                d.deviceDeleted ? (
                  t("deviceGone")
                ) : (
                  <ActionButton
                    label={t("unsubscribeDevice")}
                    confirm={{ title: t("unsubscribeConfirm"), body: t("unsubscribeBody", { user: d.systemUserId ?? "—" }) }}
                    run={() =>
                      call(api.DELETE("/api/orgs/{orgId}/devices/{deviceId}", { params: { path: { orgId, deviceId: d.deviceId } } }))
                    }
                    onDone={() => setRound((r) => r + 1)}
                  />
                ),
            },
          ]}
        />
      </Section>
    </PageFrame>
  );
}
