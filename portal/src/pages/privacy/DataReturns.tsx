// A package of all the partner's data (as held, or pseudonymised): started, followed as it is built, then downloaded.
import {
  Button,
  Field,
  Link,
  ProgressBar,
  Select,
  Subtitle2,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { Problem } from "../../components/Problem";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

type DataReturn = Schemas["DataReturnOut"];
const POLL_MS = 2000;

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "48rem" },
  files: { margin: 0 },
});

function remembered(partnerId: string): string | null {
  return sessionStorage.getItem(`tenantry.dataReturn.${partnerId}`);
}

export function DataReturns() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [kind, setKind] = useState<"return" | "anonymise">("return");
  const [job, setJob] = useState<DataReturn | null>(null);
  const [jobId, setJobId] = useState<string | null>(() => remembered(partnerId));
  const [error, setError] = useState<unknown>(null);

  const running = job === null ? jobId !== null : job.state === "queued" || job.state === "running";

  // Follows the package while it is built: read again now and then until it succeeds or fails.
  useEffect(() => {
    if (!jobId || !running) return;
    let current = true;
    const read = () =>
      call(
        api.GET("/api/partners/{partnerId}/data-returns/{dataReturnId}", {
          params: { path: { partnerId, dataReturnId: jobId } },
        }),
      ).then(
        (value) => {
          if (current) {
            setJob(value);
            setError(null);
          }
        },
        (failure: unknown) => current && setError(failure),
      );
    void read();
    const timer = window.setInterval(() => void read(), POLL_MS);
    return () => {
      current = false;
      window.clearInterval(timer);
    };
  }, [partnerId, jobId, running]);

  const started = (value: DataReturn) => {
    sessionStorage.setItem(`tenantry.dataReturn.${partnerId}`, value.id);
    setJob(value);
    setJobId(value.id);
  };

  return (
    <section className={styles.section} aria-labelledby="data-return">
      <h2 id="data-return">
        <Subtitle2>{t("dataReturnTitle")}</Subtitle2>
      </h2>
      <Text>{t("dataReturnExplain")}</Text>
      <Field label={t("dataReturnKind")}>
        <Select value={kind} onChange={(_, data) => setKind(data.value as "return" | "anonymise")}>
          <option value="return">{t("dataReturnAsHeld")}</option>
          <option value="anonymise">{t("dataReturnAnonymised")}</option>
        </Select>
      </Field>
      <ActionButton
        label={t("dataReturnStart")}
        disabled={running}
        confirm={{ title: t("dataReturnStartTitle"), body: t("dataReturnStartBody") }}
        run={() =>
          call(api.POST("/api/partners/{partnerId}/data-returns", { params: { path: { partnerId } }, body: { kind } }))
        }
        onDone={started}
        done={() => t("dataReturnStarted")}
      />
      {error ? <Problem error={error} /> : null}
      {job ? (
        <>
          <Field
            label={t("dataReturnProgress", { kind: t(`dataReturn.${job.kind}`), state: t(`job.${job.state}`) })}
            validationState={job.state === "failed" ? "error" : job.state === "succeeded" ? "success" : "none"}
            validationMessage={job.state === "failed" ? (job.error ?? t("job.failed")) : undefined}
          >
            <ProgressBar value={job.percentDone / 100} max={1} aria-valuetext={t("percentDone", { percent: job.percentDone })} />
          </Field>
          <Text>{t("percentDone", { percent: job.percentDone })}</Text>
          {job.state === "succeeded" ? (
            <>
              {job.manifestUrl ? (
                <Text>
                  <Link href={job.manifestUrl} download>
                    {t("dataReturnManifest")}
                  </Link>
                </Text>
              ) : null}
              {job.files?.length ? (
                <ul className={styles.files}>
                  {job.files.map((file) => (
                    <li key={file.file}>
                      {job.fileUrls?.[file.file] ? (
                        <Link href={job.fileUrls[file.file]} download>
                          {file.file}
                        </Link>
                      ) : (
                        file.file
                      )}{" "}
                      · {t("fileRows", { rows: format.number(file.rows), bytes: format.number(file.bytes) })}
                    </li>
                  ))}
                </ul>
              ) : null}
              {job.expiresAt ? <Text size={200}>{t("dataReturnExpires", { at: format.dateTime(job.expiresAt) })}</Text> : null}
              <Button onClick={() => setJob({ ...job, state: "running" })}>{t("dataReturnRefreshLinks")}</Button>
            </>
          ) : null}
        </>
      ) : null}
    </section>
  );
}
