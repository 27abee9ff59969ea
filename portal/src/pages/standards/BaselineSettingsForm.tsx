// Which baseline checks run and their bounds (applied from each tenant's next sync).
import { Button, Checkbox, Field, Input, MessageBar, MessageBarBody, Spinner, Subtitle2, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useState, type FormEvent } from "react";
import { ApiProblem, api, call, type Schemas } from "../../api/client";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

type Settings = Schemas["BaselineSettings"];
type Check = NonNullable<Settings["disabledChecks"]>[number];
const checks: Check[] = ["mfaEnforced", "globalAdminCount", "licencesOnDisabledAccounts", "unusedLicences", "inactiveAccounts"];
const bounds = {
  minGlobalAdmins: [0, 100],
  maxGlobalAdmins: [1, 100],
  maxUnusedLicences: [0, 1000000],
} as const;
type Bound = keyof typeof bounds;

const useStyles = makeStyles({
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS, maxWidth: "40rem" },
});

export function BaselineSettingsForm() {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const loaded = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/baseline/settings", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const [disabled, setDisabled] = useState<Check[]>([]);
  const [numbers, setNumbers] = useState<Record<Bound, string>>({ minGlobalAdmins: "2", maxGlobalAdmins: "4", maxUnusedLicences: "5" });
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    const data = loaded.data;
    if (!data) return;
    setDisabled(data.disabledChecks ?? []);
    setNumbers({
      minGlobalAdmins: String(data.minGlobalAdmins ?? 2),
      maxGlobalAdmins: String(data.maxGlobalAdmins ?? 4),
      maxUnusedLicences: String(data.maxUnusedLicences ?? 5),
    });
  }, [loaded.data]);

  const own = (key: Bound): string | null => {
    const value = Number(numbers[key]);
    const [min, max] = bounds[key];
    if (numbers[key] === "" || !Number.isInteger(value) || value < min || value > max) return t("between", { min, max });
    if (key === "minGlobalAdmins" && value > Number(numbers.maxGlobalAdmins)) return t("minAboveMax");
    return null;
  };
  const apiMessage = (key: string) =>
    error instanceof ApiProblem ? error.errors.find((e) => e.field?.endsWith(key))?.message : undefined;

  const save = async (event: FormEvent) => {
    event.preventDefault();
    if ((Object.keys(bounds) as Bound[]).some((key) => own(key))) return;
    setSaving(true);
    setError(null);
    setSaved(false);
    try {
      await call(
        api.PUT("/api/partners/{partnerId}/baseline/settings", {
          params: { path: { partnerId } },
          body: {
            disabledChecks: disabled,
            minGlobalAdmins: Number(numbers.minGlobalAdmins),
            maxGlobalAdmins: Number(numbers.maxGlobalAdmins),
            maxUnusedLicences: Number(numbers.maxUnusedLicences),
          },
        }),
      );
      setSaved(true);
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  };

  return (
    <section aria-labelledby="baseline-settings">
      <Subtitle2 as="h2" id="baseline-settings">{t("baselineSettings")}</Subtitle2>
      {loaded.error ? <Problem error={loaded.error} /> : null}
      <form className={styles.form} onSubmit={(event) => void save(event)} noValidate>
        <Text>{t("baselineApplies")}</Text>
        {checks.map((check) => (
          <Checkbox
            key={check}
            label={t("checkOn", { check: t(`check.${check}`) })}
            checked={!disabled.includes(check)}
            onChange={(_, data) =>
              setDisabled(data.checked === true ? disabled.filter((c) => c !== check) : [...disabled, check])
            }
          />
        ))}
        {(Object.keys(bounds) as Bound[]).map((key) => (
          <Field key={key} label={t(key)} validationMessage={own(key) ?? apiMessage(key)}>
            <Input
              type="number"
              value={numbers[key]}
              onChange={(_, data) => setNumbers({ ...numbers, [key]: data.value })}
            />
          </Field>
        ))}
        {error ? <Problem error={error} /> : null}
        {saved ? (
          <MessageBar intent="success" role="status">
            <MessageBarBody>{t("baselineApplies")}</MessageBarBody>
          </MessageBar>
        ) : null}
        <div>
          <Button type="submit" appearance="primary" disabled={saving} icon={saving ? <Spinner size="tiny" /> : undefined}>
            {t("save")}
          </Button>
        </div>
      </form>
    </section>
  );
}
