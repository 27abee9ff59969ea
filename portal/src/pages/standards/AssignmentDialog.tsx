// Assign a standard to tenants and tenant groups, or change an assignment (the whole of it is replaced).
import { Checkbox, Field, Input, Select, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "../personnel/FormDialog";
import { useStandards, useTenants } from "./bits";
import { modes, strings, type Mode } from "./strings";

type Assignment = Schemas["AssignmentOut"];
type Schedule = Assignment["schedule"];

export function AssignmentDialog({ assignment, onDone }: { assignment?: Assignment; onDone: () => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const tenants = useTenants();
  const standards = useStandards();
  const [standardId, setStandardId] = useState("");
  const [tenantIds, setTenantIds] = useState<string[]>([]);
  const [groups, setGroups] = useState("");
  const [mode, setMode] = useState<Mode>("report");
  const [schedule, setSchedule] = useState<Schedule>("daily");
  const [hour, setHour] = useState("6");

  const fill = async () => {
    let current = assignment;
    if (assignment) {
      // The latest state of the assignment, not the list's copy.
      current = await call(
        api.GET("/api/partners/{partnerId}/standard-assignments/{assignmentId}", {
          params: { path: { partnerId, assignmentId: assignment.id } },
        }),
      );
    }
    setStandardId(current?.standardId ?? "");
    setTenantIds(current?.tenantIds ?? []);
    setGroups((current?.tenantGroups ?? []).join(", "));
    setMode(current?.mode ?? "report");
    setSchedule(current?.schedule ?? "daily");
    setHour(String(current?.hourUtc ?? 6));
  };

  const groupList = groups
    .split(",")
    .map((g) => g.trim())
    .filter(Boolean);
  const hourNumber = Number(hour);
  const standardError = standardId ? null : t("required");
  const targetError = tenantIds.length + groupList.length === 0 ? t("noTargets") : null;
  const hourError =
    schedule === "daily" && (!Number.isInteger(hourNumber) || hourNumber < 0 || hourNumber > 23 || hour === "")
      ? t("hourRange")
      : null;
  const standardModes = standards.items.find((s) => s.id === standardId)?.modes ?? modes;

  const submit = () => {
    const body = {
      standardId,
      version: "latest" as const,
      tenantIds,
      tenantGroups: groupList,
      mode,
      schedule,
      hourUtc: schedule === "daily" ? hourNumber : 6,
      dryRun: false,
    };
    return assignment
      ? call(
          api.PUT("/api/partners/{partnerId}/standard-assignments/{assignmentId}", {
            params: { path: { partnerId, assignmentId: assignment.id } },
            body,
          }),
        )
      : call(api.POST("/api/partners/{partnerId}/standard-assignments", { params: { path: { partnerId } }, body }));
  };

  return (
    <FormDialog
      trigger={assignment ? t("change") : t("assign")}
      triggerLabel={assignment ? t("changeLabel", { name: standards.nameOf(assignment.standardId) }) : undefined}
      title={assignment ? t("changeTitle") : t("assignTitle")}
      submitLabel={t("save")}
      appearance={assignment ? undefined : "primary"}
      valid={!standardError && !targetError && !hourError}
      onOpen={() => void fill()}
      submit={submit}
      onDone={onDone}
    >
      {(form) => (
        <>
          <Field label={t("standard")} required validationMessage={form.message("standardId", standardError)}>
            <Select value={standardId} onChange={(_, data) => setStandardId(data.value)}>
              <option value="">—</option>
              {standards.items.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </Select>
          </Field>
          {/* Not a Field: a Field gives its one id to each control inside, and these are many. */}
          <div role="group" aria-label={t("tenants")}>
            <Text weight="semibold">{t("tenants")}</Text>
            {tenants.items.map((tenant) => (
              <Checkbox
                key={tenant.id}
                label={tenant.displayName}
                checked={tenantIds.includes(tenant.id)}
                onChange={(_, data) =>
                  setTenantIds(
                    data.checked === true ? [...tenantIds, tenant.id] : tenantIds.filter((id) => id !== tenant.id),
                  )
                }
              />
            ))}
            {form.message("tenantIds", targetError) ? (
              <Text role="alert" block>
                {form.message("tenantIds", targetError)}
              </Text>
            ) : null}
          </div>
          <Field label={t("tenantGroups")} hint={t("tenantGroupsHint")} validationMessage={form.message("tenantGroups")}>
            <Input value={groups} onChange={(_, data) => setGroups(data.value)} />
          </Field>
          <Field label={t("mode")} hint={t(`modeHelp.${mode}`)} validationMessage={form.message("mode")}>
            <Select value={mode} onChange={(_, data) => setMode(data.value as Mode)}>
              {standardModes.map((m) => (
                <option key={m} value={m}>
                  {t(`mode.${m}`)}
                </option>
              ))}
            </Select>
          </Field>
          <Field label={t("schedule")} validationMessage={form.message("schedule")}>
            <Select value={schedule} onChange={(_, data) => setSchedule(data.value as Schedule)}>
              <option value="daily">{t("schedule.daily")}</option>
              <option value="afterSync">{t("schedule.afterSync")}</option>
            </Select>
          </Field>
          {schedule === "daily" ? (
            <Field label={t("hourUtc")} validationMessage={form.message("hourUtc", hourError)}>
              <Input type="number" min={0} max={23} value={hour} onChange={(_, data) => setHour(data.value)} />
            </Field>
          ) : (
            <Text>{t("schedule.afterSync")}</Text>
          )}
        </>
      )}
    </FormDialog>
  );
}
