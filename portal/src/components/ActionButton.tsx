// A management action: asks for confirmation when it matters, shows progress, then the result or the problem.
import {
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  MessageBar,
  MessageBarBody,
  Spinner,
  type ButtonProps,
} from "@fluentui/react-components";
import { useState, type ReactNode } from "react";
import { useStrings } from "../i18n";
import { common } from "../strings";
import { Problem } from "./Problem";

type Props<T> = {
  label: string;
  run: () => Promise<T>;
  /** Asked before running: the title says what will happen, the body what it means. */
  confirm?: { title: string; body: ReactNode };
  /** What to say once done; defaults to "Done." */
  done?: (result: T) => ReactNode;
  onDone?: (result: T) => void;
  appearance?: ButtonProps["appearance"];
  disabled?: boolean;
};

export function ActionButton<T>({ label, run, confirm, done, onDone, appearance, disabled }: Props<T>) {
  const t = useStrings(common);
  const [asking, setAsking] = useState(false);
  const [running, setRunning] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: true; result: T } | { ok: false; error: unknown } | null>(null);

  const go = async () => {
    setAsking(false);
    setRunning(true);
    setOutcome(null);
    try {
      const result = await run();
      setOutcome({ ok: true, result });
      onDone?.(result);
    } catch (error) {
      setOutcome({ ok: false, error });
    } finally {
      setRunning(false);
    }
  };

  return (
    <span>
      <Button
        appearance={appearance}
        disabled={disabled || running}
        onClick={() => (confirm ? setAsking(true) : void go())}
        icon={running ? <Spinner size="tiny" /> : undefined}
      >
        {label}
      </Button>
      {confirm ? (
        <Dialog open={asking} onOpenChange={(_, data) => setAsking(data.open)} surfaceMotion={null}>
          {/* No close animation: the action's result may unmount this button (a list reloads, the page
              changes), and a Dialog unmounted mid-animation leaves aria-hidden on the app (fluentui#35139). */}
          <DialogSurface backdropMotion={null}>
            <DialogBody>
              <DialogTitle>{confirm.title}</DialogTitle>
              <DialogContent>{confirm.body}</DialogContent>
              <DialogActions>
                <Button appearance="primary" onClick={() => void go()}>
                  {t("confirm")}
                </Button>
                <Button onClick={() => setAsking(false)}>{t("cancel")}</Button>
              </DialogActions>
            </DialogBody>
          </DialogSurface>
        </Dialog>
      ) : null}
      {running ? <span role="status">{t("working")}</span> : null}
      {outcome?.ok === true ? (
        <MessageBar intent="success" role="status">
          <MessageBarBody>{done ? done(outcome.result) : t("done")}</MessageBarBody>
        </MessageBar>
      ) : null}
      {outcome?.ok === false ? <Problem error={outcome.error} /> : null}
    </span>
  );
}
