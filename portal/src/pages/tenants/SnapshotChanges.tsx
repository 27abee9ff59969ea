// "What changed" in one configuration snapshot since the one before it, as a readable list.
import { Button, Spinner, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useId, useState } from "react";
import { api, call } from "../../api/client";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

const useStyles = makeStyles({
  list: { margin: 0, paddingLeft: tokens.spacingHorizontalL, display: "flex", flexDirection: "column", gap: tokens.spacingVerticalXS },
  value: { color: tokens.colorNeutralForeground2, overflowWrap: "anywhere" },
});

function shown(value: unknown, none: string): string {
  if (value === null || value === undefined) return none;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function ChangeList({ tenantId, syncId }: { tenantId: string; syncId: string }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const answer = useLoad(
    () =>
      call(
        api.GET("/api/partners/{partnerId}/tenants/{tenantId}/snapshots/{syncId}/changes", {
          params: { path: { partnerId, tenantId, syncId } },
        }),
      ),
    [partnerId, tenantId, syncId],
  );
  if (answer.loading) return <Spinner size="tiny" label={t("changes")} />;
  if (answer.error) return <Problem error={answer.error} />;
  const data = answer.data;
  if (!data) return null;
  if (data.since === null) return <Text>{t("firstSnapshot")}</Text>;
  if (data.changes.length === 0) return <Text>{t("noChanges")}</Text>;
  return (
    <ul className={styles.list}>
      {data.changes.map((change, i) => (
        <li key={`${change.setting}-${i}`}>
          <Text weight="semibold">{change.summary}</Text> <Text size={200}>({change.setting})</Text>
          <div className={styles.value}>
            {t("before")}: {shown(change.before, t("nothing"))} → {t("after")}: {shown(change.after, t("nothing"))}
          </div>
        </li>
      ))}
    </ul>
  );
}

export function SnapshotChanges({ tenantId, syncId }: { tenantId: string; syncId: string }) {
  const t = useStrings(strings);
  const [open, setOpen] = useState(false);
  const id = useId();
  return (
    <div>
      <Button size="small" aria-expanded={open} aria-controls={id} onClick={() => setOpen((o) => !o)}>
        {open ? t("hideChanges") : t("showChanges")}
      </Button>
      <div id={id}>{open ? <ChangeList tenantId={tenantId} syncId={syncId} /> : null}</div>
    </div>
  );
}
