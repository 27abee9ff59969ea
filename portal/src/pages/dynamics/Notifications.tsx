// An organisation's notifications, newest first, with how many devices each reached (never a body).
import { Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Section } from "./bits";
import { SendNotification } from "./SendNotification";
import { strings } from "./strings";

type Notification = Schemas["NotificationOut"];

/** Who a notification went to, in words. */
export function useAudience(): (n: Notification) => string {
  const t = useStrings(strings);
  return (n) => (n.recipients === "everyone" ? t("recipients.everyone") : t("recipientsUsers", { count: n.recipients.length }));
}

export function Notifications({ orgId }: { orgId: string }) {
  const t = useStrings(strings);
  const format = useFormat();
  const audience = useAudience();
  const { partnerId } = useSession();
  const [round, setRound] = useState(0);
  return (
    <Section title={t("notificationsTitle")}>
      <Text>{t("notificationsExplain")}</Text>
      <div>
        <SendNotification orgId={orgId} onSent={() => setRound((r) => r + 1)} />
      </div>
      <PagedTable<Notification>
        label={t("notificationsLabel")}
        rowKey={(n) => n.id}
        empty={t("notificationsEmpty")}
        resetOn={[partnerId, orgId, round]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/orgs/{orgId}/notifications", {
              params: { path: { partnerId, orgId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          {
            key: "at",
            header: t("createdAt"),
            cell: (n) => <RouteLink to={`/dynamics/${orgId}/notifications/${n.id}`}>{format.dateTime(n.createdAt)}</RouteLink>,
          },
          {
            key: "what",
            header: t("what"),
            cell: (n) =>
              n.source === "webhook" ? t("eventLine", { entity: n.entity ?? "", message: n.message ?? "" }) : t("source.partner"),
          },
          { key: "to", header: t("recipients"), cell: audience },
          { key: "state", header: t("state"), cell: (n) => t(`state.${n.state}`) },
          { key: "devices", header: t("devices"), cell: (n) => format.number(n.deviceCount) },
          { key: "sent", header: t("sent"), cell: (n) => format.number(n.sent) },
          { key: "delivered", header: t("delivered"), cell: (n) => format.number(n.delivered) },
          { key: "failed", header: t("failed"), cell: (n) => format.number(n.failed) },
        ]}
      />
    </Section>
  );
}
