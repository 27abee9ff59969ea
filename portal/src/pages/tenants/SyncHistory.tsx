// A tenant's syncs, newest first, page by page.
import { api, call, type Schemas } from "../../api/client";
import { PagedTable } from "../../components/PagedTable";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Section } from "./Section";
import { SyncBadge } from "./SyncBadge";
import { strings } from "./strings";

type Sync = Schemas["SyncOut"];

export function SyncHistory({ tenantId, round }: { tenantId: string; round: number }) {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  return (
    <Section title={t("historyTitle")}>
      <PagedTable<Sync>
        label={t("historyLabel")}
        rowKey={(sync) => sync.id}
        empty={t("historyEmpty")}
        resetOn={[partnerId, tenantId, round]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/tenants/{tenantId}/syncs", {
              params: { path: { partnerId, tenantId }, query: { continuationToken, top: 20 } },
            }),
          )
        }
        columns={[
          { key: "queued", header: t("queuedAt"), cell: (sync) => format.dateTime(sync.queuedAt) },
          { key: "trigger", header: t("trigger"), cell: (sync) => t(`trigger.${sync.trigger}`) },
          { key: "result", header: t("result"), cell: (sync) => <SyncBadge state={sync.state} /> },
          {
            key: "duration",
            header: t("duration"),
            cell: (sync) =>
              sync.durationMs == null ? "—" : t("seconds", { s: format.number(Math.round(sync.durationMs / 100) / 10) }),
          },
          {
            key: "counts",
            header: t("counts"),
            cell: (sync) =>
              t("countsValue", {
                users: format.number(sync.counts?.users ?? 0),
                groups: format.number(sync.counts?.groups ?? 0),
              }),
          },
          {
            key: "error",
            header: t("lastError"),
            cell: (sync) => (sync.error ? t("syncError", { code: sync.error.code, message: sync.error.message }) : "—"),
          },
        ]}
      />
    </Section>
  );
}
