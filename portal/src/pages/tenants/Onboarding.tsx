// Adding a customer tenant: its name and tenant id; GDAP proves it at once when it can, else its page says how.
import { Button, Field, Input, Spinner, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useMemo, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { ApiProblem, api, call } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { EntraConnectionCard } from "./EntraConnectionCard";
import { LinkButton } from "./LinkButton";
import { Section } from "./Section";
import { strings } from "./strings";

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const useStyles = makeStyles({
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "32rem" },
  steps: { margin: 0, paddingLeft: tokens.spacingHorizontalXL },
});

type Errors = { displayName?: string; tenantId?: string };

export default function Onboarding() {
  const t = useStrings(strings);
  const styles = useStyles();
  const navigate = useNavigate();
  const { partnerId } = useSession();
  const [displayName, setDisplayName] = useState("");
  const [tenantId, setTenantId] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const [running, setRunning] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  // The same request sent again (a retry after a lost answer) is safe; a changed one is a new request.
  const idempotencyKey = useMemo(() => crypto.randomUUID(), [displayName, tenantId]);

  const errors: Errors = {};
  if (!displayName.trim()) errors.displayName = t("required");
  else if (displayName.length > 256) errors.displayName = t("tooLong");
  if (!tenantId.trim()) errors.tenantId = t("required");
  else if (!GUID.test(tenantId.trim())) errors.tenantId = t("notGuid");
  // The API's own field errors, shown at their fields.
  const apiErrors: Errors = {};
  if (failure instanceof ApiProblem) {
    for (const e of failure.errors) {
      if (e.field?.endsWith("displayName")) apiErrors.displayName = e.message;
      if (e.field?.endsWith("tenantId")) apiErrors.tenantId = e.message;
    }
  }
  const shown = (field: keyof Errors) => (submitted ? errors[field] : undefined) ?? apiErrors[field];

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (errors.displayName || errors.tenantId) return;
    setRunning(true);
    setFailure(null);
    try {
      const tenant = await call(
        api.POST("/api/partners/{partnerId}/tenants", {
          params: { path: { partnerId }, header: { "Idempotency-Key": idempotencyKey } },
          body: { displayName: displayName.trim(), tenantId: tenantId.trim().toLowerCase() },
        }),
      );
      navigate(`/tenants/${tenant.id}`, { state: { added: true } });
    } catch (error) {
      setFailure(error);
    } finally {
      setRunning(false);
    }
  };

  return (
    <PageFrame
      title={t("onboardTitle")}
      description={t("onboardDescription")}
      actions={<LinkButton to="/tenants">{t("back")}</LinkButton>}
    >
      <Section title={t("onboardSteps")}>
        <ol className={styles.steps}>
          <li>
            <Text>{t("stepGdap")}</Text>
          </li>
          <li>
            <Text>{t("stepConsent")}</Text>
          </li>
        </ol>
      </Section>
      <EntraConnectionCard />
      <Section title={t("addTenant")}>
        <form className={styles.form} onSubmit={(e) => void submit(e)} noValidate>
          <Field
            label={t("displayName")}
            hint={t("displayNameHint")}
            required
            validationMessage={shown("displayName")}
          >
            <Input value={displayName} onChange={(_, data) => setDisplayName(data.value)} maxLength={256} />
          </Field>
          <Field label={t("tenantId")} hint={t("tenantIdHint")} required validationMessage={shown("tenantId")}>
            <Input value={tenantId} onChange={(_, data) => setTenantId(data.value)} spellCheck={false} />
          </Field>
          {failure ? <Problem error={failure} /> : null}
          <div>
            <Button
              type="submit"
              appearance="primary"
              disabled={running}
              icon={running ? <Spinner size="tiny" /> : undefined}
            >
              {t("add")}
            </Button>
            {running ? <span role="status"> {t("adding")}</span> : null}
          </div>
        </form>
      </Section>
    </PageFrame>
  );
}
