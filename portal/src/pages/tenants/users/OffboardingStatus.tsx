// An offboarding as it runs: read again every few seconds until it ends, one line per step, manual steps spelled out.
import {
  Badge,
  Button,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  Title3,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { api, call, type Schemas } from "../../../api/client";
import { Problem } from "../../../components/Problem";
import { useFormat, useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { strings } from "./strings";

type Offboarding = Schemas["OffboardingOut"];
type Step = Offboarding["steps"][number];

const POLL_MS = 2000;

const stepColour = {
  pending: "informative",
  done: "success",
  skipped: "subtle",
  manual: "warning",
  failed: "danger",
} as const;
const stateColour = { queued: "informative", running: "brand", succeeded: "success", failed: "danger" } as const;

const useStyles = makeStyles({
  root: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS },
  manual: { margin: 0, paddingLeft: tokens.spacingHorizontalXL },
});

export function OffboardingStatus({ tenantId, offboardingId }: { tenantId: string; offboardingId: string }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const format = useFormat();
  const { partnerId } = useSession();
  const [operation, setOperation] = useState<Offboarding>();
  const [error, setError] = useState<unknown>(null);
  const [round, setRound] = useState(0);

  useEffect(() => {
    let live = true;
    let timer: number | undefined;
    const read = async () => {
      try {
        const current = await call(
          api.GET("/api/partners/{partnerId}/tenants/{tenantId}/offboardings/{offboardingId}", {
            params: { path: { partnerId, tenantId, offboardingId } },
          }),
        );
        if (!live) return;
        setOperation(current);
        setError(null);
        if (current.state === "queued" || current.state === "running") timer = window.setTimeout(read, POLL_MS);
      } catch (failure) {
        if (live) setError(failure);
      }
    };
    void read();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [partnerId, tenantId, offboardingId, round]);

  const manual = operation?.steps.filter((s) => s.state === "manual") ?? [];
  return (
    <section className={styles.root} aria-labelledby="offboarding-heading">
      <Title3 as="h3" id="offboarding-heading">
        {t("offboarding.title")}
      </Title3>
      {error ? (
        <>
          <Problem error={error} />
          <div>
            <Button onClick={() => setRound((r) => r + 1)}>{t("offboarding.readAgain")}</Button>
          </div>
        </>
      ) : null}
      {operation ? (
        <>
          <div role="status" aria-live="polite">
            <Badge appearance="filled" color={stateColour[operation.state]}>
              {t(`offboarding.state.${operation.state}`)}
            </Badge>{" "}
            <Text>
              {operation.finishedAt
                ? t("offboarding.finished", { time: format.dateTime(operation.finishedAt) })
                : t("offboarding.started", { time: format.dateTime(operation.createdAt) })}
            </Text>
          </div>
          {operation.error ? <Text>{operation.error}</Text> : null}
          <Table aria-label={t("offboarding.steps")} size="small">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>{t("offboarding.step")}</TableHeaderCell>
                <TableHeaderCell>{t("offboarding.stepState")}</TableHeaderCell>
                <TableHeaderCell>{t("offboarding.stepDetail")}</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {operation.steps.map((step) => (
                <TableRow key={step.name}>
                  <TableCell>{t(`step.${step.name}`)}</TableCell>
                  <TableCell>
                    <Badge appearance="tint" color={stepColour[step.state]}>
                      {t(`stepState.${step.state}`)}
                    </Badge>
                  </TableCell>
                  <TableCell>
                    <StepDetail step={step} />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          {manual.length ? (
            <>
              <Text weight="semibold">{t("offboarding.manual")}</Text>
              <ol className={styles.manual}>
                {manual.map((step) => (
                  <li key={step.name}>
                    <Text weight="semibold">{t(`step.${step.name}`)}: </Text>
                    <Text>{step.instructions ?? step.detail ?? ""}</Text>
                  </li>
                ))}
              </ol>
            </>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

function StepDetail({ step }: { step: Step }) {
  const t = useStrings(strings);
  const parts: string[] = [];
  if (step.detail) parts.push(step.detail);
  if (step.state === "manual") parts.push(t("offboarding.seeBelow"));
  if (step.freedLicences?.length) {
    parts.push(t("offboarding.freed", { skus: step.freedLicences.map((l) => l.skuPartNumber ?? l.skuId).join(", ") }));
  }
  return <>{parts.join(" ") || "—"}</>;
}
