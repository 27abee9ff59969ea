// A time range as two typed fields (YYYY-MM-DD, optionally HH:MM) in the browser's zone; the API takes instants.
// Plain text, not datetime-local: its segments read badly to screen readers and Tab stops in each of them.
import { Field, Input } from "@fluentui/react-components";
import { useStrings } from "../../i18n";
import { strings } from "./strings";

export type Range = { from: string; to: string };

const WRITTEN = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2}))?$/;

/** A written time ("2026-12-03" or "2026-12-03 10:15") as an instant the API accepts; undefined if empty or unreadable. */
export function instant(written: string): string | undefined {
  const match = WRITTEN.exec(written.trim());
  if (!match) return undefined;
  const [, year, month, day, hour = "0", minute = "0"] = match;
  const local = new Date(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute));
  return Number.isNaN(local.getTime()) || local.getDate() !== Number(day) ? undefined : local.toISOString();
}

function unreadable(written: string): boolean {
  return written.trim() !== "" && instant(written) === undefined;
}

/** Why the range cannot be sent, or null when it can. */
export function rangeProblem(range: Range): "toBeforeFrom" | "badTime" | null {
  if (unreadable(range.from) || unreadable(range.to)) return "badTime";
  const from = instant(range.from);
  const to = instant(range.to);
  return from && to && to <= from ? "toBeforeFrom" : null;
}

export function TimeRange({ range, onChange }: { range: Range; onChange: (range: Range) => void }) {
  const t = useStrings(strings);
  const toProblem = rangeProblem({ from: "", to: range.to }) ?? (unreadable(range.from) ? null : rangeProblem(range));
  return (
    <>
      <Field
        label={t("from")}
        hint={t("timeHint")}
        validationMessage={unreadable(range.from) ? t("badTime") : undefined}
      >
        <Input value={range.from} placeholder="2026-12-01" onChange={(_, data) => onChange({ ...range, from: data.value })} />
      </Field>
      <Field label={t("to")} hint={t("timeHint")} validationMessage={toProblem ? t(toProblem) : undefined}>
        <Input value={range.to} placeholder="2026-12-03 18:00" onChange={(_, data) => onChange({ ...range, to: data.value })} />
      </Field>
    </>
  );
}
