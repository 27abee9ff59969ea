// One standard: create it or change its settings (each save is the next version), delete it, run it now.
import {
  Button,
  Checkbox,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  Select,
  Spinner,
  Subtitle2,
  Text,
  Textarea,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useEffect, useState, type FormEvent } from "react";
import { useNavigate, useParams } from "react-router";
import { ApiProblem, api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { StandardsLinks } from "./bits";
import { StandardRun } from "./StandardRun";
import { strings } from "./strings";

type Setting = Schemas["CatalogueSetting"];
type Value = boolean | number | string;

const useStyles = makeStyles({
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "48rem" },
  setting: { display: "flex", gap: tokens.spacingHorizontalM, alignItems: "end", flexWrap: "wrap" },
  secondary: { color: tokens.colorNeutralForeground2 },
});

function initial(setting: Setting): Value {
  if (setting.allowed && setting.allowed.length > 0) return setting.allowed[0] ?? "";
  if (setting.type === "boolean") return true;
  if (setting.type === "integer") return 0;
  return "";
}

function ValueControl({ setting, value, onChange }: { setting: Setting; value: Value; onChange: (v: Value) => void }) {
  const t = useStrings(strings);
  const label = t("value", { title: setting.title });
  const choices = setting.allowed ?? (setting.type === "boolean" ? [true, false] : null);
  if (choices) {
    return (
      <Field label={label}>
        <Select
          value={String(value)}
          onChange={(_, data) => onChange(choices.find((choice) => String(choice) === data.value) ?? data.value)}
        >
          {choices.map((choice) => (
            <option key={String(choice)} value={String(choice)}>
              {String(choice)}
            </option>
          ))}
        </Select>
      </Field>
    );
  }
  return (
    <Field label={label}>
      <Input
        type={setting.type === "integer" ? "number" : "text"}
        value={String(value)}
        onChange={(_, data) => onChange(setting.type === "integer" ? Number(data.value) : data.value)}
      />
    </Field>
  );
}

export function StandardEditor() {
  const t = useStrings(strings);
  const styles = useStyles();
  const navigate = useNavigate();
  const { partnerId } = useSession();
  const { standardId } = useParams();
  const catalogue = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/standard-settings", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const standard = useLoad(
    () =>
      standardId
        ? call(api.GET("/api/partners/{partnerId}/standards/{standardId}", { params: { path: { partnerId, standardId } } }))
        : Promise.resolve(undefined),
    [partnerId, standardId],
  );
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [chosen, setChosen] = useState<Map<string, Value>>(new Map());
  const [tried, setTried] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [savedVersion, setSavedVersion] = useState<number | null>(null);

  useEffect(() => {
    if (!standard.data) return;
    setName(standard.data.name);
    setDescription(standard.data.description);
    setChosen(new Map(standard.data.settings.map((s) => [s.id, s.value])));
  }, [standard.data]);

  const builtIn = standard.data?.builtIn ?? false;
  const nameError = !name.trim() ? t("required") : name.length > 100 ? t("tooLong", { max: 100 }) : null;
  const descriptionError = description.length > 1000 ? t("tooLong", { max: 1000 }) : null;
  const settingsError = chosen.size === 0 ? t("noSettings") : null;
  const apiError = (field: string) =>
    error instanceof ApiProblem ? error.errors.find((e) => e.field?.endsWith(field))?.message : undefined;

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    if (nameError || descriptionError || settingsError) return;
    setSaving(true);
    setError(null);
    setSavedVersion(null);
    const body = {
      name: name.trim(),
      description,
      settings: [...chosen.entries()].map(([id, value]) => ({ id, value })),
    };
    try {
      if (standardId) {
        const saved = await call(
          api.PUT("/api/partners/{partnerId}/standards/{standardId}", { params: { path: { partnerId, standardId } }, body }),
        );
        setSavedVersion(saved.version);
      } else {
        const created = await call(api.POST("/api/partners/{partnerId}/standards", { params: { path: { partnerId } }, body }));
        navigate(`/standards/${created.id}`);
      }
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  };

  const toggle = (setting: Setting, on: boolean) => {
    const next = new Map(chosen);
    if (on) next.set(setting.id, chosen.get(setting.id) ?? initial(setting));
    else next.delete(setting.id);
    setChosen(next);
  };

  const title = standardId ? t("editTitle", { name: standard.data?.name ?? "" }) : t("newTitle");
  return (
    <PageFrame title={title} description={t("description")} actions={<StandardsLinks />}>
      {catalogue.loading || standard.loading ? <Spinner size="small" /> : null}
      {catalogue.error ? <Problem error={catalogue.error} /> : null}
      {standard.error ? <Problem error={standard.error} /> : null}
      {builtIn ? (
        <MessageBar intent="info">
          <MessageBarBody>{t("builtInNote")}</MessageBarBody>
        </MessageBar>
      ) : null}
      <form className={styles.form} onSubmit={(event) => void save(event)} noValidate>
        <Field
          label={t("name")}
          required
          validationMessage={(tried ? nameError : null) ?? apiError("name")}
        >
          <Input value={name} disabled={builtIn} onChange={(_, data) => setName(data.value)} />
        </Field>
        <Field label={t("descriptionField")} validationMessage={(tried ? descriptionError : null) ?? apiError("description")}>
          <Textarea value={description} disabled={builtIn} onChange={(_, data) => setDescription(data.value)} />
        </Field>
        <Subtitle2 as="h2">{t("settings")}</Subtitle2>
        <Text>{t("settingsIntro")}</Text>
        {tried && settingsError ? (
          <Text role="alert" className={styles.secondary}>
            {settingsError}
          </Text>
        ) : null}
        {(catalogue.data?.items ?? []).map((setting) => (
          <div key={setting.id} className={styles.setting}>
            <Checkbox
              label={t("include", { title: setting.title })}
              checked={chosen.has(setting.id)}
              disabled={builtIn}
              onChange={(_, data) => toggle(setting, data.checked === true)}
            />
            {chosen.has(setting.id) && !builtIn ? (
              <ValueControl
                setting={setting}
                value={chosen.get(setting.id) ?? initial(setting)}
                onChange={(value) => setChosen(new Map(chosen).set(setting.id, value))}
              />
            ) : chosen.has(setting.id) ? (
              <Text>{String(chosen.get(setting.id))}</Text>
            ) : null}
            <Text size={200} className={styles.secondary}>
              {setting.remediable ? t("remediable") : t("notRemediable")}
            </Text>
          </div>
        ))}
        {error ? <Problem error={error} /> : null}
        {savedVersion !== null ? (
          <MessageBar intent="success" role="status">
            <MessageBarBody>{t("saved", { version: savedVersion })}</MessageBarBody>
          </MessageBar>
        ) : null}
        {builtIn ? null : (
          <div>
            <Button type="submit" appearance="primary" disabled={saving} icon={saving ? <Spinner size="tiny" /> : undefined}>
              {t("save")}
            </Button>
          </div>
        )}
      </form>
      {standardId && standard.data && !builtIn ? (
        <div>
          <ActionButton
            label={t("delete")}
            confirm={{ title: t("deleteTitle", { name: standard.data.name }), body: t("deleteBody") }}
            run={() =>
              call(
                api.DELETE("/api/partners/{partnerId}/standards/{standardId}", { params: { path: { partnerId, standardId } } }),
              )
            }
            onDone={() => navigate("/standards")}
          />
        </div>
      ) : null}
      {standardId && standard.data ? <StandardRun standard={standard.data} /> : null}
    </PageFrame>
  );
}
