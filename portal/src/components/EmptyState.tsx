// What an empty list says: that it is empty and what to do next.
import { Text, makeStyles, tokens } from "@fluentui/react-components";
import type { ReactNode } from "react";

const useStyles = makeStyles({
  root: { padding: tokens.spacingVerticalL, color: tokens.colorNeutralForeground2 },
});

export function EmptyState({ children }: { children: ReactNode }) {
  const styles = useStyles();
  return (
    <div className={styles.root} role="status">
      <Text>{children}</Text>
    </div>
  );
}
