// A page's frame: its heading (the one h1), a line on what it is for, its actions, then its content.
import { Text, Title1, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, type ReactNode } from "react";

const useStyles = makeStyles({
  header: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS, marginBottom: tokens.spacingVerticalL },
  actions: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap" },
  body: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
});

export function PageFrame({
  title,
  description,
  actions,
  children,
}: {
  title: string;
  description?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
}) {
  const styles = useStyles();
  useEffect(() => {
    document.title = `${title} · Tenantry`;
  }, [title]);
  return (
    <section aria-labelledby="page-title">
      <header className={styles.header}>
        <Title1 as="h1" id="page-title">
          {title}
        </Title1>
        {description ? <Text>{description}</Text> : null}
        {actions ? <div className={styles.actions}>{actions}</div> : null}
      </header>
      <div className={styles.body}>{children}</div>
    </section>
  );
}
