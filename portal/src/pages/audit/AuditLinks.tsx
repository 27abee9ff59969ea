// The audit area's three lists as links: the audit log, API calls, sign-ins (the one in view is marked).
import { Button, makeStyles, tokens } from "@fluentui/react-components";
import { useHref, useLinkClickHandler, useLocation } from "react-router";
import { useStrings } from "../../i18n";
import { strings } from "./strings";

const useStyles = makeStyles({
  links: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap" },
});

function SectionLink({ to, label, current }: { to: string; label: string; current: boolean }) {
  const href = useHref(to);
  const onClick = useLinkClickHandler<HTMLAnchorElement>(to);
  return (
    <Button
      as="a"
      href={href}
      onClick={onClick}
      appearance={current ? "primary" : "secondary"}
      aria-current={current ? "page" : undefined}
    >
      {label}
    </Button>
  );
}

export function AuditLinks() {
  const t = useStrings(strings);
  const styles = useStyles();
  const { pathname } = useLocation();
  const links = [
    { to: "/audit", label: t("navEvents") },
    { to: "/audit/api-calls", label: t("navCalls") },
    { to: "/audit/sessions", label: t("navSessions") },
  ];
  return (
    <div className={styles.links}>
      {links.map((link) => (
        <SectionLink
          key={link.to}
          to={link.to}
          label={link.label}
          current={pathname.replace(/\/$/, "") === link.to}
        />
      ))}
    </div>
  );
}
