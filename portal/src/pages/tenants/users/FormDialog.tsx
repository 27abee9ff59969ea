// A form in a dialog: opens from its button, validates, shows progress and the API's problem (field by field),
// then closes — or, with `after`, stays open to show what the API answered once (a one-time password).
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
import { useState, type FormEvent, type ReactNode } from "react";
import { ApiProblem } from "../../../api/client";
import { Problem } from "../../../components/Problem";
import { useStrings } from "../../../i18n";
import { common } from "../../../strings";

const useStyles = makeStyles({
  fields: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
});

export type FormState = {
  /** A field's message: its own check once the person tried to send, else the API's for that field. */
  message: (field: string, own?: string | null) => string | undefined;
};

type Props<T> = {
  trigger: string;
  title: string;
  intro?: ReactNode;
  submitLabel: string;
  valid: boolean;
  submit: () => Promise<T>;
  onDone?: (result: T) => void;
  onOpen?: () => void;
  /** Shown in place of the form once sent; the dialog then stays open until closed. */
  after?: (result: T, close: () => void) => ReactNode;
  appearance?: ButtonProps["appearance"];
  disabled?: boolean;
  children: (form: FormState) => ReactNode;
};

export function FormDialog<T>(props: Props<T>) {
  const { trigger, title, intro, submitLabel, valid, submit, onDone, onOpen, after, appearance, disabled, children } =
    props;
  const t = useStrings(common);
  const styles = useStyles();
  const [open, setOpen] = useState(false);
  const [tried, setTried] = useState(false);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<{ value: T } | null>(null);

  const onOpenChange = (next: boolean) => {
    if (next) {
      setTried(false);
      setError(null);
      setResult(null);
      onOpen?.();
    } else {
      // What was answered once is forgotten as the dialog closes.
      setResult(null);
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
      const value = await submit();
      if (after) setResult({ value });
      else setOpen(false);
      onDone?.(value);
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
      return apiErrors.find((e) => e.field === field || e.field?.endsWith(`.${field}`))?.message;
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
        {result && after ? (
          <DialogBody>
            <DialogTitle>{title}</DialogTitle>
            <DialogContent className={styles.fields}>{after(result.value, () => onOpenChange(false))}</DialogContent>
            <DialogActions>
              <Button appearance="primary" onClick={() => onOpenChange(false)}>
                {t("close")}
              </Button>
            </DialogActions>
          </DialogBody>
        ) : (
          <form onSubmit={(event) => void send(event)} noValidate>
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
                <Button onClick={() => onOpenChange(false)}>{t("cancel")}</Button>
              </DialogActions>
            </DialogBody>
          </form>
        )}
      </DialogSurface>
    </Dialog>
  );
}
