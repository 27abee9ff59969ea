// Apply a standard to tenants now, in a mode, and show each tenant's outcome.
import { Checkbox, Field, Select, Subtitle2, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { useTenants } from "./bits";
import { Outcomes } from "./Outcomes";
import { strings, type Mode } from "./strings";

const useStyles = makeStyles({
  row: { display: "flex", gap: tokens.spacingHorizontalL, flexWrap: "wrap", alignItems: "end" },
});

export function StandardRun({ standard }: { standard: Schemas["StandardOut"] }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const tenants = useTenants();
  const [mode, setMode] = useState<Mode>(standard.modes[0] ?? "report");
  const [tenantId, setTenantId] = useState("");
  const [dryRun, setDryRun] = useState(true);
  const [result, setResult] = useState<Schemas["RunOut"] | null>(null);
  return (
    <section aria-labelledby="run-title">
      <Subtitle2 as="h2" id="run-title">
        {t("runTitle")}
      </Subtitle2>
      <div className={styles.row}>
        <Field label={t("mode")} hint={t(`modeHelp.${mode}`)}>
          <Select value={mode} onChange={(_, data) => setMode(data.value as Mode)}>
            {standard.modes.map((m) => (
              <option key={m} value={m}>
                {t(`mode.${m}`)}
              </option>
            ))}
          </Select>
        </Field>
        <Field label={t("runTenant")}>
          <Select value={tenantId} onChange={(_, data) => setTenantId(data.value)}>
            <option value="">{t("allTenants")}</option>
            {tenants.items.map((tenant) => (
              <option key={tenant.id} value={tenant.id}>
                {tenant.displayName}
              </option>
            ))}
          </Select>
        </Field>
        {mode === "remediate" ? (
          <Checkbox label={t("dryRun")} checked={dryRun} onChange={(_, data) => setDryRun(data.checked === true)} />
        ) : null}
        <ActionButton
          label={t("run")}
          appearance="primary"
          confirm={
            mode === "remediate" && !dryRun ? { title: t("runTitle"), body: t("modeHelp.remediate") } : undefined
          }
          run={() =>
            call(
              api.POST("/api/partners/{partnerId}/standards/{standardId}/runs", {
                params: { path: { partnerId, standardId: standard.id } },
                body: {
                  mode,
                  dryRun: mode === "remediate" && dryRun,
                  tenantIds: tenantId ? [tenantId] : tenants.items.map((tenant) => tenant.id),
                },
              }),
            )
          }
          onDone={setResult}
          done={(run) => t("runDone", { count: run.tenants.length })}
        />
      </div>
      {result ? (
        <Outcomes
          lines={result.tenants.map((line) => ({
            tenantId: line.tenantId,
            state: line.outcome,
            reason: line.reason,
            passed: line.passed,
            failed: line.failed,
            failing: (line.settings ?? []).filter((s) => s.state === "fail").map((s) => s.title),
          }))}
          nameOf={tenants.nameOf}
        />
      ) : null}
    </section>
  );
}
