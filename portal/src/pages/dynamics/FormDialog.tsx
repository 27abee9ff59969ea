// A form in a dialog: opens from its button, checks its fields, shows progress and the API's problem, closes when done.
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
import { Problem } from "../../components/Problem";
import { useStrings } from "../../i18n";
import { common } from "../../strings";
import { apiFieldError } from "./bits";

const useStyles = makeStyles({
  fields: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
});

/** A field's message: its own check once the person tried to send, else the API's for that field. */
export type FieldMessage = (field: string, own?: string | null) => string | undefined;

type Props<T> = {
  trigger: string;
  title: string;
  intro?: ReactNode;
  submitLabel: string;
  /** True when the fields are valid as far as the portal can tell (the API checks again). */
  valid: boolean;
  submit: () => Promise<T>;
  onDone?: (result: T) => void;
  onOpen?: () => void;
  appearance?: ButtonProps["appearance"];
  children: (message: FieldMessage) => ReactNode;
};

export function FormDialog<T>({ trigger, title, intro, submitLabel, valid, submit, onDone, onOpen, appearance, children }: Props<T>) {
  const t = useStrings(common);
  const styles = useStyles();
  const [open, setOpen] = useState(false);
  const [tried, setTried] = useState(false);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const openChange = (next: boolean) => {
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
      const result = await submit();
      setOpen(false);
      onDone?.(result);
    } catch (failure) {
      setError(failure);
    } finally {
      setRunning(false);
    }
  };

  const message: FieldMessage = (field, own) => (tried && own ? own : apiFieldError(error, field));

  return (
    <Dialog open={open} onOpenChange={(_, data) => openChange(data.open)}>
      <DialogTrigger disableButtonEnhancement>
        <Button appearance={appearance}>{trigger}</Button>
      </DialogTrigger>
      <DialogSurface>
        <form onSubmit={(event) => void send(event)} noValidate>
          <DialogBody>
            <DialogTitle>{title}</DialogTitle>
            <DialogContent className={styles.fields}>
              {intro}
              {children(message)}
              {error ? <Problem error={error} /> : null}
              {running ? <span role="status">{t("working")}</span> : null}
            </DialogContent>
            <DialogActions>
              <Button type="submit" appearance="primary" disabled={running} icon={running ? <Spinner size="tiny" /> : undefined}>
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
