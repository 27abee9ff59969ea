// A Fluent link that moves within the portal without reloading it (a plain <a href> underneath).
import { Link } from "@fluentui/react-components";
import type { ReactNode } from "react";
import { useHref, useLinkClickHandler } from "react-router";

export function RouteLink({ to, children }: { to: string; children: ReactNode }) {
  const href = useHref(to);
  const onClick = useLinkClickHandler<HTMLAnchorElement>(to);
  return (
    <Link href={href} onClick={onClick}>
      {children}
    </Link>
  );
}
