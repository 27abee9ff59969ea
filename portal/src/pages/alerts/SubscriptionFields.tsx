// What an alert subscription hears (alert types, severity, digest, description, licence threshold):
// the fields the create and change dialogs share, checked as the API checks them.
import { Checkbox, Field, Input, Select, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import type { Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import type { FormState } from "../privacy/FormDialog";
import { strings } from "./strings";

type Severity = Schemas["Severity"];
export const SEVERITIES: Severity[] = ["info", "warning", "critical"];

/** The alert types and prefixes the API's rules raise (shared/alerts/rules.py), as a person picks them. */
export const KNOWN_TYPES = [
  "*",
  "tenant.*",
  "tenant.drift.*",
  "tenant.baseline.*",
  "tenant.access.*",
  "tenant.sync.*",
  "privacy.*",
  "complaint.*",
  "notification.*",
  "notice.*",
  "invoice.*",
] as const;
const TYPE = /^(\*|[a-z][A-Za-z0-9-]*(\.[a-z][A-Za-z0-9-]*)*(\.\*)?)$/;

const useStyles = makeStyles({
  group: { display: "flex", flexDirection: "column", border: "none", margin: 0, padding: 0 },
  legend: { fontWeight: tokens.fontWeightSemibold, padding: 0, marginBottom: tokens.spacingVerticalXS },
  error: { color: tokens.colorPaletteRedForeground1 },
});

export type Hearing = {
  eventTypes: string[];
  minSeverity: Severity;
  digest: boolean;
  description: string | null;
  unassignedLicencesThreshold: number;
};

export function useHearing(initial?: Partial<Hearing>) {
  const t = useStrings(strings);
  const styles = useStyles();
  const start = () => ({
    known: (initial?.eventTypes ?? []).filter((type) => (KNOWN_TYPES as readonly string[]).includes(type)),
    other: (initial?.eventTypes ?? []).filter((type) => !(KNOWN_TYPES as readonly string[]).includes(type)).join(", "),
    severity: initial?.minSeverity ?? ("info" as Severity),
    digest: initial?.digest ?? false,
    description: initial?.description ?? "",
    threshold: String(initial?.unassignedLicencesThreshold ?? 5),
  });
  const [state, setState] = useState(start);
  const others = state.other
    .split(",")
    .map((type) => type.trim())
    .filter(Boolean);
  const eventTypes = [...state.known, ...others];
  const badType = others.find((type) => !TYPE.test(type) || type.length > 100);
  const threshold = Number(state.threshold);
  const errors = {
    eventTypes: eventTypes.length === 0 ? t("eventTypesHint") : eventTypes.length > 50 ? t("tooMany", { max: 50 }) : null,
    other: badType ? t("badType", { value: badType }) : null,
    description: state.description.length > 200 ? t("tooLong") : null,
    threshold:
      !/^\d+$/.test(state.threshold.trim()) || threshold > 1_000_000 ? t("badNumber") : null,
  };
  const hearing: Hearing = {
    eventTypes,
    minSeverity: state.severity,
    digest: state.digest,
    description: state.description.trim() ? state.description.trim() : null,
    unassignedLicencesThreshold: threshold,
  };
  return {
    hearing,
    valid: !Object.values(errors).some(Boolean),
    reset: () => setState(start()),
    fields: (form: FormState) => (
      <>
        {/* A fieldset, not a Field: a Field hands its one control id to every checkbox inside it. */}
        <fieldset className={styles.group}>
          <legend className={styles.legend}>{t("eventTypes")}</legend>
          {KNOWN_TYPES.map((type) => (
            <Checkbox
              key={type}
              label={`${t(`type.${type}`)} (${type})`}
              checked={state.known.includes(type)}
              onChange={(_, data) =>
                setState((s) => ({
                  ...s,
                  known: data.checked ? [...s.known.filter((k) => k !== type), type] : s.known.filter((k) => k !== type),
                }))
              }
            />
          ))}
          {form.message("eventTypes", errors.eventTypes) ? (
            <Text className={styles.error}>{form.message("eventTypes", errors.eventTypes)}</Text>
          ) : null}
        </fieldset>
        <Field
          label={t("otherTypes")}
          hint={t("otherTypesHint")}
          validationMessage={form.message("other", errors.other)}
          validationState={form.message("other", errors.other) ? "error" : "none"}
        >
          <Input value={state.other} onChange={(_, data) => setState((s) => ({ ...s, other: data.value }))} />
        </Field>
        <Field label={t("minSeverity")} validationMessage={form.message("minSeverity")}>
          <Select value={state.severity} onChange={(_, data) => setState((s) => ({ ...s, severity: data.value as Severity }))}>
            {SEVERITIES.map((severity) => (
              <option key={severity} value={severity}>
                {t(`severity.${severity}`)}
              </option>
            ))}
          </Select>
        </Field>
        <Checkbox
          label={t("digest")}
          checked={state.digest}
          onChange={(_, data) => setState((s) => ({ ...s, digest: data.checked === true }))}
        />
        <Field
          label={t("descriptionField")}
          hint={t("descriptionHint")}
          validationMessage={form.message("description", errors.description)}
          validationState={form.message("description", errors.description) ? "error" : "none"}
        >
          <Input value={state.description} onChange={(_, data) => setState((s) => ({ ...s, description: data.value }))} />
        </Field>
        <Field
          label={t("threshold")}
          hint={t("thresholdHint")}
          validationMessage={form.message("unassignedLicencesThreshold", errors.threshold)}
          validationState={form.message("unassignedLicencesThreshold", errors.threshold) ? "error" : "none"}
        >
          <Input
            type="number"
            min={0}
            max={1000000}
            value={state.threshold}
            onChange={(_, data) => setState((s) => ({ ...s, threshold: data.value }))}
          />
        </Field>
      </>
    ),
  };
}
