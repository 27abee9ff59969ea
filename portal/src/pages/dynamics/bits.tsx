// Small pieces the Dynamics pages share: the area's section links, a section under its h2, facts, link buttons.
import { Button, Link, Subtitle1, makeStyles, tokens, type ButtonProps } from "@fluentui/react-components";
import { useId, type ReactNode } from "react";
import { useHref, useLinkClickHandler, useLocation } from "react-router";
import { ApiProblem } from "../../api/client";

const useStyles = makeStyles({
  links: { display: "flex", gap: tokens.spacingHorizontalL, flexWrap: "wrap" },
  current: { fontWeight: tokens.fontWeightSemibold, textDecoration: "underline" },
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS },
  facts: {
    display: "grid",
    gridTemplateColumns: "minmax(10rem, max-content) 1fr",
    columnGap: tokens.spacingHorizontalL,
    rowGap: tokens.spacingVerticalS,
    margin: 0,
  },
  term: { fontWeight: tokens.fontWeightSemibold },
  detail: { margin: 0, overflowWrap: "anywhere" },
  long: { overflowWrap: "anywhere", minWidth: 0 },
  narrow: { maxWidth: "32rem" },
});

function SectionLink({ to, label }: { to: string; label: string }) {
  const styles = useStyles();
  const href = useHref(to);
  const onClick = useLinkClickHandler<HTMLAnchorElement>(to);
  const { pathname } = useLocation();
  const current = pathname === href || pathname === `${href}/`;
  return (
    <Link
      href={href}
      onClick={onClick}
      aria-current={current ? "page" : undefined}
      className={current ? styles.current : undefined}
    >
      {label}
    </Link>
  );
}

/** The area's sections as links, the current one marked. */
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

/** A part of a page under its own h2, named by it. */
export function Section({ title, children }: { title: string; children: ReactNode }) {
  const styles = useStyles();
  const id = useId();
  return (
    <section aria-labelledby={id} className={styles.section}>
      <Subtitle1 as="h2" id={id}>
        {title}
      </Subtitle1>
      {children}
    </section>
  );
}

/** Label/value pairs as a description list; empty values are left out. */
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

/** A long value (an id, an address) that wraps anywhere rather than spill into the next column. */
export function Long({ children }: { children: ReactNode }) {
  const styles = useStyles();
  return <span className={styles.long}>{children}</span>;
}

/** Keeps a lone field (a search box) at a readable width. */
export function Narrow({ children }: { children: ReactNode }) {
  const styles = useStyles();
  return <div className={styles.narrow}>{children}</div>;
}

/** A button that is a link within the portal (a real <a href>). */
export function LinkButton({
  to,
  children,
  appearance,
}: {
  to: string;
  children: ReactNode;
  appearance?: ButtonProps["appearance"];
}) {
  const href = useHref(to);
  const onClick = useLinkClickHandler<HTMLAnchorElement>(to);
  return (
    <Button as="a" href={href} onClick={onClick} appearance={appearance}>
      {children}
    </Button>
  );
}

/** The API's message for one field of the body (its name as the API writes it, e.g. `business.name`). */
export function apiFieldError(failure: unknown, field: string): string | undefined {
  if (!(failure instanceof ApiProblem)) return undefined;
  const found = failure.errors.filter((e) => e.field === field || e.field?.endsWith(`.${field}`));
  return found.length ? found.map((e) => e.message ?? "").join(" ") : undefined;
}

export const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** GUIDs one per line (or separated by commas or spaces), as a person pastes them. */
export function guidList(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((part) => part.trim())
    .filter(Boolean);
}
