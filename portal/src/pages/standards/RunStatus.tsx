// A standard run over many tenants, polled until it has finished: one line per tenant.
import { MessageBar, MessageBarBody, Spinner } from "@fluentui/react-components";
import { useEffect } from "react";
import { useParams } from "react-router";
import { api, call } from "../../api/client";
import { EmptyState } from "../../components/EmptyState";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { StandardsLinks, useStandards, useTenants } from "./bits";
import { Outcomes } from "./Outcomes";
import { strings } from "./strings";

export function RunStatus() {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const { runId = "" } = useParams();
  const tenants = useTenants();
  const standards = useStandards();
  const run = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/standard-runs/{runId}", { params: { path: { partnerId, runId } } })),
    [partnerId, runId],
  );
  const state = run.data?.state;
  const reload = run.reload;
  useEffect(() => {
    // Poll while the run is still under way; a finished run does not change.
    if (state !== "queued" && state !== "running") return;
    const timer = window.setTimeout(reload, 1500);
    return () => window.clearTimeout(timer);
  }, [state, reload, run.data]);

  const data = run.data;
  return (
    <PageFrame
      title={t("runPageTitle")}
      description={data ? `${standards.nameOf(data.standardId)} · ${t(`mode.${data.mode}`)}` : undefined}
      actions={<StandardsLinks />}
    >
      {run.error ? <Problem error={run.error} /> : null}
      {data ? (
        <MessageBar intent={data.state === "failed" ? "error" : data.state === "succeeded" ? "success" : "info"} role="status">
          <MessageBarBody>
            {t("runState", { state: t(`state.${data.state}`), completed: data.completed, total: data.total })}
            {data.error ? ` ${data.error}` : ""}
          </MessageBarBody>
        </MessageBar>
      ) : null}
      {state === "queued" || state === "running" || (!data && run.loading) ? <Spinner size="small" /> : null}
      {data && data.tenants.length === 0 ? <EmptyState>{t("runEmpty")}</EmptyState> : null}
      {data && data.tenants.length > 0 ? (
        <Outcomes
          lines={data.tenants.map((line) => ({ ...line, state: line.state }))}
          nameOf={tenants.nameOf}
        />
      ) : null}
    </PageFrame>
  );
}
