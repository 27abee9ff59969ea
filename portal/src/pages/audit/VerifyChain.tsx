// "Verify chain": checks the audit log's keyed chains and anchors; a long check is followed until it ends.
import {
  Button,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  Spinner,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, call, type Schemas } from "../../api/client";
import { Problem } from "../../components/Problem";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

type Outcome = { valid: boolean; checked: number; firstBrokenEventId?: string | null; reason?: string | null };
type State =
  | { kind: "idle" }
  | { kind: "running"; checked: number; total: number | null }
  | { kind: "done"; outcome: Outcome }
  | { kind: "failed"; error: unknown };

const MONTH = /^[0-9]{4}-(0[1-9]|1[0-2])$/;
// How often a long check's progress is read again while it runs on the server.
const POLL_MS = 1000;

const useStyles = makeStyles({
  form: { display: "flex", gap: tokens.spacingHorizontalM, alignItems: "end", flexWrap: "wrap" },
  month: { width: "14rem" },
});

function isLong(answer: Schemas["VerifyOut"] | Schemas["VerificationOut"]): answer is Schemas["VerificationOut"] {
  return "state" in answer;
}

export function VerifyChain() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [month, setMonth] = useState("");
  const [tried, setTried] = useState(false);
  const [state, setState] = useState<State>({ kind: "idle" });
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);

  const monthError = tried && month && !MONTH.test(month) ? t("monthInvalid") : undefined;

  const verify = async (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    if (month && !MONTH.test(month)) return;
    setState({ kind: "running", checked: 0, total: null });
    try {
      const answer = await call(
        api.GET("/api/partners/{partnerId}/events/verify", {
          params: { path: { partnerId }, query: { month: month || undefined } },
        }),
      );
      let outcome: Outcome;
      if (isLong(answer)) {
        // A large log is checked step by step on the server: follow it until it has succeeded.
        let operation = answer;
        while (operation.state !== "succeeded") {
          if (!alive.current) return;
          setState({ kind: "running", checked: operation.checked, total: operation.total });
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          operation = await call(
            api.GET("/api/partners/{partnerId}/events/verifications/{verificationId}", {
              params: { path: { partnerId, verificationId: operation.id } },
            }),
          );
        }
        outcome = { ...operation, valid: operation.valid === true };
      } else {
        outcome = answer;
      }
      if (alive.current) setState({ kind: "done", outcome });
    } catch (error) {
      if (alive.current) setState({ kind: "failed", error });
    }
  };

  const reasonText = (reason: string | null | undefined) => {
    if (!reason) return "";
    const key = `reason.${reason}` as Parameters<typeof t>[0];
    return key in strings.en ? t(key) : t("reasonOther", { reason });
  };

  const running = state.kind === "running";
  return (
    <>
      <Text>{t("verifyIntro")}</Text>
      <form className={styles.form} onSubmit={(e) => void verify(e)} noValidate>
        <Field className={styles.month} label={t("month")} hint={t("monthHint")} validationMessage={monthError}>
          <Input value={month} placeholder="2026-11" maxLength={7} onChange={(_, data) => setMonth(data.value)} />
        </Field>
        <Button type="submit" appearance="primary" disabled={running} icon={running ? <Spinner size="tiny" /> : undefined}>
          {t("verify")}
        </Button>
      </form>
      <div aria-live="polite">
        {state.kind === "running" ? (
          <Text role="status">
            {state.total === null
              ? t("verifying")
              : t("progress", { checked: format.number(state.checked), total: format.number(state.total) })}
          </Text>
        ) : null}
        {state.kind === "done" ? (
          <MessageBar intent={state.outcome.valid ? "success" : "error"} role="status">
            <MessageBarBody>
              {state.outcome.valid
                ? t("verifyValid", { checked: format.number(state.outcome.checked) })
                : state.outcome.firstBrokenEventId
                  ? t("verifyBroken", {
                      checked: format.number(state.outcome.checked),
                      event: state.outcome.firstBrokenEventId,
                      reason: reasonText(state.outcome.reason),
                    })
                  : t("verifyBrokenNoEvent", {
                      checked: format.number(state.outcome.checked),
                      reason: reasonText(state.outcome.reason),
                    })}
            </MessageBarBody>
          </MessageBar>
        ) : null}
      </div>
      {state.kind === "failed" ? <Problem error={state.error} /> : null}
    </>
  );
}
