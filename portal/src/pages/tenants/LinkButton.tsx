// A button that is a link within the portal: a real <a href> (opens in a new tab too), moving without reloading.
import { Button, type ButtonProps } from "@fluentui/react-components";
import type { ReactNode } from "react";
import { useHref, useLinkClickHandler } from "react-router";

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
