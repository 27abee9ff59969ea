// A form in a dialog: opens from its button, validates, shows progress and the API's problem, closes when done.
import {
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  DialogTrigger,
  Spinner,
  makeStyles,
  tokens,
  type ButtonProps,
} from "@fluentui/react-components";
import { useCallback, useLayoutEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { ApiProblem } from "../../api/client";
import { Problem } from "../../components/Problem";
import { useStrings } from "../../i18n";
import { common } from "../../strings";

const useStyles = makeStyles({
  fields: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
});

/** Runs `run` once the modal has given the page back to assistive technology (it marks the app's root
 * aria-hidden while open and lifts that a moment after it unmounts), or after two seconds at most. */
function afterPageShown(run: () => void, until = performance.now() + 2000): void {
  const root = document.getElementById("root");
  if (!root || root.getAttribute("aria-hidden") !== "true" || performance.now() > until) {
    run();
    return;
  }
  window.requestAnimationFrame(() => afterPageShown(run, until));
}

/** What a form's fields need: whether to show their messages yet, and the API's message for a field. */
export type FormState = {
  /** The message a field shows: its own check once the person tried to submit, else the API's for that field. */
  message: (field: string, own?: string | null) => string | undefined;
};

type Props<T> = {
  trigger: string;
  title: string;
  intro?: ReactNode;
  submitLabel: string;
  /** True when the fields are valid as far as the portal can tell (the API checks again). */
  valid: boolean;
  submit: () => Promise<T>;
  onDone?: (result: T) => void;
  /** Called as the dialog opens, to start the fields afresh. */
  onOpen?: () => void;
  appearance?: ButtonProps["appearance"];
  disabled?: boolean;
  children: (form: FormState) => ReactNode;
};

export function FormDialog<T>({
  trigger,
  title,
  intro,
  submitLabel,
  valid,
  submit,
  onDone,
  onOpen,
  appearance,
  disabled,
  children,
}: Props<T>) {
  const t = useStrings(common);
  const styles = useStyles();
  const [open, setOpen] = useState(false);
  const [tried, setTried] = useState(false);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // The result waits until the dialog has gone: a caller that moves away or re-renders the page
  // while the dialog is still mounted leaves the rest of the page hidden from assistive technology
  // (the modal marks it aria-hidden and never gets to undo that).
  const finished = useRef<{ result: T } | null>(null);
  const whenDone = useRef(onDone);
  useLayoutEffect(() => {
    whenDone.current = onDone;
  });
  const surface = useCallback((element: HTMLFormElement | null) => {
    if (element !== null || !finished.current) return;
    const { result } = finished.current;
    finished.current = null;
    afterPageShown(() => whenDone.current?.(result));
  }, []);

  const onOpenChange = (next: boolean) => {
    if (next) {
      setTried(false);
      setError(null);
      onOpen?.();
    }
    setOpen(next);
  };

  const send = async (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    if (!valid) return;
    setRunning(true);
    setError(null);
    try {
      finished.current = { result: await submit() };
      setOpen(false);
    } catch (failure) {
      setError(failure);
    } finally {
      setRunning(false);
    }
  };

  const apiErrors = error instanceof ApiProblem ? error.errors : [];
  const form: FormState = {
    message: (field, own) => {
      if (tried && own) return own;
      const found = apiErrors.find((e) => e.field === field || e.field?.endsWith(`.${field}`));
      return found?.message;
    },
  };

  return (
    <Dialog open={open} onOpenChange={(_, data) => onOpenChange(data.open)}>
      <DialogTrigger disableButtonEnhancement>
        <Button appearance={appearance} disabled={disabled}>
          {trigger}
        </Button>
      </DialogTrigger>
      <DialogSurface>
        <form ref={surface} onSubmit={(event) => void send(event)} noValidate>
          <DialogBody>
            <DialogTitle>{title}</DialogTitle>
            <DialogContent className={styles.fields}>
              {intro}
              {children(form)}
              {error ? <Problem error={error} /> : null}
              {running ? <span role="status">{t("working")}</span> : null}
            </DialogContent>
            <DialogActions>
              <Button
                type="submit"
                appearance="primary"
                disabled={running}
                icon={running ? <Spinner size="tiny" /> : undefined}
              >
                {submitLabel}
              </Button>
              <Button onClick={() => setOpen(false)}>{t("cancel")}</Button>
            </DialogActions>
          </DialogBody>
        </form>
      </DialogSurface>
    </Dialog>
  );
}
