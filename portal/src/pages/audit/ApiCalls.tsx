// The partner's own API calls of the last 90 days: who called which route, how it ended, how long it took.
import { Button, Field, Select, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useState, type FormEvent } from "react";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AuditLinks } from "./AuditLinks";
import { Section } from "./Section";
import { strings } from "./strings";
import { TimeRange, instant, rangeProblem, type Range } from "./TimeRange";

type ApiCall = Schemas["ApiCallOut"];
type CallFilters = Range & { status: "" | "2xx" | "4xx" | "5xx" };
const NONE: CallFilters = { from: "", to: "", status: "" };

const useStyles = makeStyles({
  form: {
    display: "grid",
    gridTemplateColumns: "repeat(auto-fit, minmax(14rem, 1fr))",
    gap: tokens.spacingHorizontalM,
    alignItems: "end",
  },
  secondary: { display: "block", color: tokens.colorNeutralForeground2, wordBreak: "break-all" },
});

export function ApiCalls() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [draft, setDraft] = useState<CallFilters>(NONE);
  const [filters, setFilters] = useState<CallFilters>(NONE);
  const apply = (event: FormEvent) => {
    event.preventDefault();
    if (!rangeProblem(draft)) setFilters(draft);
  };
  const callerKind = (type: string) => {
    const key = `actor.${type}` as Parameters<typeof t>[0];
    return key in strings.en ? t(key) : type;
  };
  return (
    <PageFrame title={t("callsTitle")} description={t("callsDescription")} actions={<AuditLinks />}>
      <Section title={t("filters")}>
        <form className={styles.form} onSubmit={apply} aria-label={t("filters")} noValidate>
          <TimeRange range={draft} onChange={(range) => setDraft((before) => ({ ...before, ...range }))} />
          <Field label={t("status")}>
            <Select
              value={draft.status}
              onChange={(_, data) => setDraft((before) => ({ ...before, status: data.value as CallFilters["status"] }))}
            >
              <option value="">{t("statusAll")}</option>
              <option value="2xx">{t("status2xx")}</option>
              <option value="4xx">{t("status4xx")}</option>
              <option value="5xx">{t("status5xx")}</option>
            </Select>
          </Field>
          <div>
            <Button type="submit" appearance="primary">
              {t("apply")}
            </Button>
          </div>
        </form>
      </Section>
      <PagedTable<ApiCall>
        label={t("callsLabel")}
        rowKey={(item) => item.id}
        empty={t("callsEmpty")}
        resetOn={[partnerId, JSON.stringify(filters)]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/api-calls", {
              params: {
                path: { partnerId },
                query: {
                  continuationToken,
                  from: instant(filters.from),
                  to: instant(filters.to),
                  status: filters.status || undefined,
                },
              },
            }),
          )
        }
        columns={[
          { key: "at", header: t("at"), cell: (item) => format.dateTime(item.at) },
          {
            key: "route",
            header: t("route"),
            cell: (item) => (
              <>
                <code>
                  {item.method} {item.route}
                </code>
                <Text size={200} className={styles.secondary}>
                  {t("requestId")}: {item.id}
                </Text>
              </>
            ),
          },
          {
            key: "status",
            header: t("status"),
            cell: (item) => (
              <>
                <Text>{item.status}</Text>
                {item.problemTitle ? (
                  <Text size={200} className={styles.secondary}>
                    {item.problemTitle}
                  </Text>
                ) : null}
              </>
            ),
          },
          {
            key: "duration",
            header: t("duration"),
            cell: (item) => t("durationMs", { ms: format.number(item.durationMs) }),
          },
          {
            key: "caller",
            header: t("caller"),
            cell: (item) => (
              <>
                <Text>{callerKind(item.caller.type)}</Text>
                <Text size={200} className={styles.secondary}>
                  {item.caller.id}
                </Text>
              </>
            ),
          },
          { key: "network", header: t("network"), cell: (item) => item.clientIp ?? "—" },
        ]}
      />
    </PageFrame>
  );
}
