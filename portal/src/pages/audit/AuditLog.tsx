// The audit log: filtered by time, actor, action and tenant, read page by page, and its chain verified.
import { Text, makeStyles, tokens } from "@fluentui/react-components";
import { useMemo, useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AuditLinks } from "./AuditLinks";
import { EventFilters, NO_FILTERS, useTenantNames, type Filters } from "./EventFilters";
import { Section } from "./Section";
import { strings } from "./strings";
import { instant } from "./TimeRange";
import { VerifyChain } from "./VerifyChain";

type Event = Schemas["EventOut"];

const useStyles = makeStyles({
  secondary: { display: "block", color: tokens.colorNeutralForeground2, wordBreak: "break-all" },
});

export function AuditLog() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const tenants = useTenantNames();
  const names = useMemo(() => new Map((tenants.data ?? []).map((x) => [x.id, x.name])), [tenants.data]);
  const filtered = JSON.stringify(filters) !== JSON.stringify(NO_FILTERS);

  const actorKind = (actor: Record<string, string>) => {
    const key = `actor.${actor.type}` as Parameters<typeof t>[0];
    return key in strings.en ? t(key) : actor.type;
  };

  return (
    <PageFrame title={t("title")} description={t("description")} actions={<AuditLinks />}>
      <Section title={t("filters")}>
        <EventFilters applied={filters} tenants={tenants.data ?? []} onApply={setFilters} />
      </Section>
      <PagedTable<Event>
        label={t("eventsLabel")}
        rowKey={(event) => event.id}
        empty={filtered ? t("eventsEmpty") : t("eventsEmptyAll")}
        resetOn={[partnerId, JSON.stringify(filters)]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/events", {
              params: {
                path: { partnerId },
                query: {
                  continuationToken,
                  from: instant(filters.from),
                  to: instant(filters.to),
                  actor: filters.actor || undefined,
                  action: filters.action || undefined,
                  tenantId: filters.tenantId || undefined,
                },
              },
            }),
          )
        }
        columns={[
          { key: "at", header: t("at"), cell: (event) => format.dateTime(event.at) },
          {
            key: "who",
            header: t("who"),
            cell: (event) => (
              <>
                <Text>
                  {event.actor.display ?? event.actor.id} · {actorKind(event.actor)}
                </Text>
                <Text size={200} className={styles.secondary}>
                  {event.actor.id}
                </Text>
              </>
            ),
          },
          { key: "action", header: t("what"), cell: (event) => <code>{event.action}</code> },
          {
            key: "target",
            header: t("target"),
            cell: (event) => (
              <>
                <Text>
                  {[event.target.type, event.target.display ?? event.target.id].filter(Boolean).join(" ")}
                </Text>
                {event.tenantId ? (
                  <Text size={200} className={styles.secondary}>
                    {names.get(event.tenantId.toLowerCase()) ?? event.tenantId}
                  </Text>
                ) : null}
              </>
            ),
          },
          {
            key: "details",
            header: t("details"),
            cell: (event) => {
              const changed = Object.keys(event.changes).length;
              const details = Object.entries(event.details)
                .map(([name, value]) => `${name}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
                .join("; ");
              return (
                <>
                  {changed ? <Text>{t("changed", { count: format.number(changed) })}</Text> : null}
                  {details ? (
                    <Text size={200} className={styles.secondary}>
                      {details}
                    </Text>
                  ) : null}
                </>
              );
            },
          },
        ]}
      />
      <Section title={t("verifyTitle")}>
        <VerifyChain />
      </Section>
    </PageFrame>
  );
}
