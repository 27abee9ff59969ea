// Sign-ins of the partner's people and the first use of each API key per day (owners only).
import { Button, Text, makeStyles, tokens } from "@fluentui/react-components";
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

type SignIn = Schemas["SessionOut"];
const NONE: Range = { from: "", to: "" };

const useStyles = makeStyles({
  form: {
    display: "grid",
    gridTemplateColumns: "repeat(auto-fit, minmax(14rem, 1fr))",
    gap: tokens.spacingHorizontalM,
    alignItems: "end",
  },
  secondary: { display: "block", color: tokens.colorNeutralForeground2, wordBreak: "break-all" },
});

export function Sessions() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [draft, setDraft] = useState<Range>(NONE);
  const [range, setRange] = useState<Range>(NONE);
  const apply = (event: FormEvent) => {
    event.preventDefault();
    if (!rangeProblem(draft)) setRange(draft);
  };
  const kind = (value: string) => {
    const key = `kind.${value}` as Parameters<typeof t>[0];
    return key in strings.en ? t(key) : value;
  };
  return (
    <PageFrame title={t("sessionsTitle")} description={t("sessionsDescription")} actions={<AuditLinks />}>
      <Section title={t("filters")}>
        <form className={styles.form} onSubmit={apply} aria-label={t("filters")} noValidate>
          <TimeRange range={draft} onChange={setDraft} />
          <div>
            <Button type="submit" appearance="primary">
              {t("apply")}
            </Button>
          </div>
        </form>
      </Section>
      <PagedTable<SignIn>
        label={t("sessionsLabel")}
        rowKey={(item) => `${item.requestId}-${item.at}`}
        empty={t("sessionsEmpty")}
        resetOn={[partnerId, range.from, range.to]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/sessions", {
              params: {
                path: { partnerId },
                query: { continuationToken, from: instant(range.from), to: instant(range.to) },
              },
            }),
          )
        }
        columns={[
          { key: "kind", header: t("kind"), cell: (item) => kind(item.kind) },
          {
            key: "who",
            header: t("who"),
            cell: (item) => (
              <>
                <Text>{item.actor.display ?? item.actor.id}</Text>
                <Text size={200} className={styles.secondary}>
                  {item.actor.id}
                </Text>
              </>
            ),
          },
          { key: "at", header: t("firstCall"), cell: (item) => format.dateTime(item.at) },
          { key: "lastAt", header: t("lastCall"), cell: (item) => format.dateTime(item.lastAt) },
          {
            key: "route",
            header: t("route"),
            cell: (item) => (
              <code>
                {item.method} {item.route}
              </code>
            ),
          },
          { key: "network", header: t("network"), cell: (item) => item.clientIp ?? "—" },
        ]}
      />
    </PageFrame>
  );
}
