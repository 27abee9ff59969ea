// Small pieces the privacy and records pages share: section links, facts, deadlines and who did something.
import { Link, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useState, type ReactNode } from "react";
import { useHref, useLinkClickHandler, useLocation } from "react-router";

const useStyles = makeStyles({
  links: { display: "flex", gap: tokens.spacingHorizontalL, flexWrap: "wrap" },
  current: { fontWeight: tokens.fontWeightSemibold, textDecoration: "underline" },
  facts: {
    display: "grid",
    gridTemplateColumns: "minmax(10rem, max-content) 1fr",
    columnGap: tokens.spacingHorizontalL,
    rowGap: tokens.spacingVerticalS,
    margin: 0,
  },
  term: { fontWeight: tokens.fontWeightSemibold },
  detail: { margin: 0, overflowWrap: "anywhere" },
  late: { color: tokens.colorStatusDangerForeground1, fontWeight: tokens.fontWeightSemibold },
  soon: { color: tokens.colorStatusWarningForeground1 },
});

function SectionLink({ to, label }: { to: string; label: string }) {
  const styles = useStyles();
  const href = useHref(to);
  const onClick = useLinkClickHandler<HTMLAnchorElement>(to);
  const { pathname } = useLocation();
  const current = pathname === href || pathname === `${href}/`;
  return (
    <Link href={href} onClick={onClick} aria-current={current ? "page" : undefined} className={current ? styles.current : undefined}>
      {label}
    </Link>
  );
}

/** The sections of an area, as links (the current one marked). */
export function SectionLinks({ links }: { links: { to: string; label: string }[] }) {
  const styles = useStyles();
  return (
    <div className={styles.links}>
      {links.map((link) => (
        <SectionLink key={link.to} to={link.to} label={link.label} />
      ))}
    </div>
  );
}

/** Label/value pairs as a description list; rows whose value is null or undefined are left out. */
export function Facts({ rows }: { rows: [string, ReactNode][] }) {
  const styles = useStyles();
  return (
    <dl className={styles.facts}>
      {rows
        .filter(([, value]) => value !== null && value !== undefined && value !== "")
        .map(([label, value]) => (
          <div key={label} style={{ display: "contents" }}>
            <dt className={styles.term}>{label}</dt>
            <dd className={styles.detail}>{value}</dd>
          </div>
        ))}
    </dl>
  );
}

/** The current time, moving every `everyMs` so clocks on a page stay true while it is open. */
export function useNow(everyMs = 60_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), everyMs);
    return () => window.clearInterval(timer);
  }, [everyMs]);
  return now;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** Whole days until `due` (negative once past), as a person counts them. */
export function daysLeft(due: string, now: number): number {
  const ms = new Date(due).getTime() - now;
  return ms >= 0 ? Math.ceil(ms / DAY) : -Math.ceil(-ms / DAY);
}

/** A deadline's text in red when it has passed, orange when near, plain otherwise. */
export function Deadline({ text, late, soon }: { text: string; late: boolean; soon?: boolean }) {
  const styles = useStyles();
  return <Text className={late ? styles.late : soon ? styles.soon : undefined}>{text}</Text>;
}

/** Hours and minutes until `until` (negative once past). */
export function hoursLeft(until: string, now: number): { hours: number; minutes: number; past: boolean } {
  const ms = new Date(until).getTime() - now;
  const abs = Math.abs(ms);
  return { hours: Math.floor(abs / HOUR), minutes: Math.floor((abs % HOUR) / 60_000), past: ms < 0 };
}

/** Who did something, from an actor record the API keeps ({type, id, display?}). */
export function who(actor: Record<string, unknown> | null | undefined): string | null {
  if (!actor) return null;
  const display = actor.display ?? actor.displayName ?? actor.name;
  if (typeof display === "string" && display) return display;
  const id = actor.id;
  return typeof id === "string" ? id : JSON.stringify(actor);
}

/** A date input's value (YYYY-MM-DD) as the start of that day in the person's time zone, for the API. */
export function dayStart(value: string): string | null {
  return value ? new Date(`${value}T00:00`).toISOString() : null;
}
