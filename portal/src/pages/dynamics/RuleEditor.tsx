// Creating or replacing a rule: a Dataverse event, title/body/link templates checked as typed, and recipients.
import { Button, Field, Input, Select, Spinner, Switch, Textarea, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { useNavigate, useParams } from "react-router";
import { api, call } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { common } from "../../strings";
import { GUID, LinkButton, Section, apiFieldError, guidList } from "./bits";
import { PlaceholderCheck, usePlaceholderProblems } from "./PlaceholderCheck";
import { strings } from "./strings";
import type { Recipients, Rule, RuleIn } from "./types";

type RecipientType = Recipients["type"];

const ENTITY = /^[a-z][a-z0-9_]{0,99}$/;
const MESSAGE = /^[A-Za-z][A-Za-z_]{0,63}$/;

const useStyles = makeStyles({
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "40rem" },
});

type Form = {
  entity: string;
  message: string;
  filtering: string;
  title: string;
  body: string;
  link: string;
  type: RecipientType;
  users: string;
  enabled: boolean;
};

const blank: Form = {
  entity: "",
  message: "",
  filtering: "",
  title: "",
  body: "",
  link: "",
  type: "initiatingUser",
  users: "",
  enabled: true,
};

function formOf(rule: Rule): Form {
  return {
    entity: rule.entity,
    message: rule.message,
    filtering: (rule.filteringAttributes ?? []).join(", "),
    title: rule.title,
    body: rule.body,
    link: rule.link ?? "",
    type: rule.recipients.type,
    users: rule.recipients.type === "users" ? rule.recipients.users.join("\n") : "",
    enabled: rule.enabled,
  };
}

export default function RuleEditor() {
  const t = useStrings(strings);
  const tc = useStrings(common);
  const styles = useStyles();
  const navigate = useNavigate();
  const problemsOf = usePlaceholderProblems();
  const { partnerId } = useSession();
  const { orgId = "", ruleId } = useParams();
  const creating = ruleId === undefined;
  const loaded = useLoad(
    () =>
      creating
        ? Promise.resolve(null)
        : call(
            api.GET("/api/partners/{partnerId}/orgs/{orgId}/rules/{ruleId}", {
              params: { path: { partnerId, orgId, ruleId } },
            }),
          ),
    [partnerId, orgId, ruleId],
  );
  const [form, setForm] = useState<Form>(blank);
  useEffect(() => {
    if (loaded.data) setForm(formOf(loaded.data));
  }, [loaded.data]);
  const set = (change: Partial<Form>) => setForm((b) => ({ ...b, ...change }));
  const [tried, setTried] = useState(false);
  const [running, setRunning] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const idempotencyKey = useMemo(() => crypto.randomUUID(), [form]);

  const filtering = form.filtering.split(/[\s,]+/).filter(Boolean);
  const users = guidList(form.users);
  // Checked before sending (the placeholders are shown live below their fields; the API decides on save).
  const own: Record<string, string | undefined> = {
    entity: ENTITY.test(form.entity) ? undefined : t("badEntity"),
    message: MESSAGE.test(form.message) ? undefined : t("badMessage"),
    filteringAttributes: filtering.every((a) => ENTITY.test(a)) ? undefined : t("badFiltering"),
    title: !form.title.trim() ? t("required") : form.title.length > 1000 ? t("tooLong1000") : undefined,
    body: form.body.length > 1000 ? t("tooLong1000") : undefined,
    link: form.link && !form.link.startsWith("https://") ? t("badLink") : undefined,
    "recipients.users":
      form.type !== "users"
        ? undefined
        : users.length === 0
          ? t("usersNeeded")
          : users.length > 500
            ? t("tooManyUsers")
            : users.every((u) => GUID.test(u))
              ? undefined
              : t("badUsers"),
  };
  const live = { title: problemsOf(form.title), body: problemsOf(form.body), link: problemsOf(form.link) };
  const message = (field: string) => {
    const mine = tried ? own[field] : undefined;
    const placeholders = field in live ? live[field as keyof typeof live] : [];
    const parts = [mine, ...placeholders, apiFieldError(failure, field)].filter(Boolean);
    return parts.length ? parts.join(" ") : undefined;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    if (Object.values(own).some(Boolean)) return;
    setRunning(true);
    setFailure(null);
    const body: RuleIn = {
      entity: form.entity,
      message: form.message,
      filteringAttributes: filtering.length ? filtering : null,
      title: form.title,
      body: form.body,
      link: form.link || null,
      recipients: form.type === "users" ? { type: "users", users: users.map((u) => u.toLowerCase()) } : { type: form.type, users: null },
      enabled: form.enabled,
    };
    try {
      if (creating) {
        await call(
          api.POST("/api/partners/{partnerId}/orgs/{orgId}/rules", {
            params: { path: { partnerId, orgId }, header: { "Idempotency-Key": idempotencyKey } },
            body,
          }),
        );
      } else {
        await call(
          api.PUT("/api/partners/{partnerId}/orgs/{orgId}/rules/{ruleId}", {
            params: { path: { partnerId, orgId, ruleId } },
            body,
          }),
        );
      }
      navigate(`/dynamics/${orgId}?tab=rules`, { state: { saved: "saved" } });
    } catch (error) {
      setFailure(error);
    } finally {
      setRunning(false);
    }
  };

  const back = <LinkButton to={`/dynamics/${orgId}?tab=rules`}>{t("backToRules")}</LinkButton>;
  if (!creating && !loaded.data) {
    return (
      <PageFrame title={t("editRule")} actions={back}>
        {loaded.error ? <Problem error={loaded.error} /> : <Spinner label={tc("loading")} />}
      </PageFrame>
    );
  }
  return (
    <PageFrame title={creating ? t("newRule") : t("editRule")} description={t("ruleDescription")} actions={back}>
      <Section title={t("ruleEvent")}>
        <form id="rule" className={styles.form} onSubmit={(e) => void submit(e)} noValidate>
          <Field label={t("entity")} hint={t("entityHint")} required validationMessage={message("entity")}>
            <Input value={form.entity} onChange={(_, d) => set({ entity: d.value })} spellCheck={false} />
          </Field>
          <Field label={t("message")} hint={t("messageHint")} required validationMessage={message("message")}>
            <Input value={form.message} onChange={(_, d) => set({ message: d.value })} spellCheck={false} />
          </Field>
          <Field label={t("filtering")} hint={t("filteringHint")} validationMessage={message("filteringAttributes")}>
            <Input value={form.filtering} onChange={(_, d) => set({ filtering: d.value })} spellCheck={false} />
          </Field>
          <Field label={t("ruleTitle")} hint={t("templateHint")} required validationMessage={message("title")}>
            <Input value={form.title} onChange={(_, d) => set({ title: d.value })} maxLength={1000} spellCheck={false} />
          </Field>
          <PlaceholderCheck template={form.title} name={t("ruleTitle")} />
          <Field label={t("ruleBody")} hint={t("templateHint")} validationMessage={message("body")}>
            <Textarea value={form.body} onChange={(_, d) => set({ body: d.value })} maxLength={1000} />
          </Field>
          <PlaceholderCheck template={form.body} name={t("ruleBody")} />
          <Field label={t("ruleLink")} hint={t("linkHint")} validationMessage={message("link")}>
            <Input value={form.link} onChange={(_, d) => set({ link: d.value })} maxLength={2000} spellCheck={false} />
          </Field>
          <PlaceholderCheck template={form.link} name={t("ruleLink")} />
          <Field label={t("recipients")} hint={t(`recipientsHint.${form.type}`)}>
            <Select value={form.type} onChange={(_, d) => set({ type: d.value as RecipientType })}>
              <option value="initiatingUser">{t("recipients.initiatingUser")}</option>
              <option value="owner">{t("recipients.owner")}</option>
              <option value="users">{t("recipients.users")}</option>
              <option value="everyone">{t("recipients.everyone")}</option>
            </Select>
          </Field>
          {form.type === "users" ? (
            <Field label={t("recipientUsers")} hint={t("recipientUsersHint")} required validationMessage={message("recipients.users")}>
              <Textarea value={form.users} onChange={(_, d) => set({ users: d.value })} spellCheck={false} />
            </Field>
          ) : null}
          <Switch checked={form.enabled} onChange={(_, d) => set({ enabled: d.checked })} label={t("ruleEnabled")} />
          {failure ? <Problem error={failure} /> : null}
          <div>
            <Button type="submit" appearance="primary" disabled={running} icon={running ? <Spinner size="tiny" /> : undefined}>
              {creating ? t("createRule") : t("save")}
            </Button>
            {running ? <span role="status"> {tc("working")}</span> : null}
          </div>
        </form>
      </Section>
    </PageFrame>
  );
}
