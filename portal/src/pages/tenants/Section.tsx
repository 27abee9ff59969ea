// A section of a page under its own h2 (or h3 inside a tab's section), named by its heading for landmarks.
import { Subtitle1, Subtitle2, makeStyles, tokens } from "@fluentui/react-components";
import { useId, type ReactNode } from "react";

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS },
});

export function Section({ title, level = 2, children }: { title: string; level?: 2 | 3; children: ReactNode }) {
  const styles = useStyles();
  const id = useId();
  return (
    <section aria-labelledby={id} className={styles.section}>
      {level === 2 ? (
        <Subtitle1 as="h2" id={id}>
          {title}
        </Subtitle1>
      ) : (
        <Subtitle2 as="h3" id={id}>
          {title}
        </Subtitle2>
      )}
      {children}
    </section>
  );
}
