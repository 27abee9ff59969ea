// One sync followed as it runs: its state, what it has read so far, and how it ended.
import { ProgressBar, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { ApiProblem, api, call, type Schemas } from "../../api/client";
import { Problem } from "../../components/Problem";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Details } from "./Details";
import { SyncBadge } from "./SyncBadge";
import { strings } from "./strings";

type Sync = Schemas["SyncOut"];

// How often a running sync is asked again: often enough to feel live, rare enough for a 2-core stamp.
const POLL_MS = 1500;
const RETRY_MS = 5000;

const useStyles = makeStyles({
  root: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS, maxWidth: "40rem" },
});

function running(sync: Sync | null): boolean {
  return sync !== null && (sync.state === "queued" || sync.state === "running");
}

type Props = { tenantId: string; syncId: string; onFinished: (sync: Sync) => void };

export function SyncProgress({ tenantId, syncId, onFinished }: Props) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [sync, setSync] = useState<Sync | null>(null);
  const [error, setError] = useState<unknown>(null);
  const finished = useRef(onFinished);
  finished.current = onFinished;

  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    let sawRunning = false;
    const poll = async () => {
      try {
        const answer = await call(
          api.GET("/api/partners/{partnerId}/tenants/{tenantId}/syncs/{syncId}", {
            params: { path: { partnerId, tenantId, syncId } },
          }),
        );
        if (stopped) return;
        setSync(answer);
        setError(null);
        if (running(answer)) {
          sawRunning = true;
          timer = window.setTimeout(() => void poll(), POLL_MS);
        } else if (sawRunning) {
          finished.current(answer);
        }
      } catch (failure) {
        if (stopped) return;
        setError(failure);
        // A sync that is gone stays gone; anything else (network, 5xx) is asked again.
        const gone = failure instanceof ApiProblem && failure.status >= 400 && failure.status < 500;
        if (!gone) timer = window.setTimeout(() => void poll(), RETRY_MS);
      }
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [partnerId, tenantId, syncId]);

  if (!sync) return error ? <Problem error={error} /> : null;
  const counts = sync.counts;
  const facts: [string, ReactNode][] = [
    [t("lastSync"), <SyncBadge state={sync.state} />],
    [t("trigger"), t(`trigger.${sync.trigger}`)],
    [t("queuedAt"), format.dateTime(sync.queuedAt)],
  ];
  if (sync.startedAt) facts.push([t("startedAt"), format.dateTime(sync.startedAt)]);
  if (sync.finishedAt) facts.push([t("finishedAt"), format.dateTime(sync.finishedAt)]);
  if (sync.durationMs != null) facts.push([t("duration"), t("seconds", { s: format.number(Math.round(sync.durationMs / 100) / 10) })]);
  return (
    <div className={styles.root} role="status" aria-live="polite">
      <Details items={facts} />
      {running(sync) ? <ProgressBar aria-label={t("syncProgress")} /> : null}
      <Text>
        {t("syncCounts", {
          users: format.number(counts?.users ?? 0),
          groups: format.number(counts?.groups ?? 0),
          pages: format.number(counts?.pages ?? 0),
        })}
      </Text>
      {sync.error ? <Text>{t("syncError", { code: sync.error.code, message: sync.error.message })}</Text> : null}
      {error ? <Problem error={error} /> : null}
    </div>
  );
}
