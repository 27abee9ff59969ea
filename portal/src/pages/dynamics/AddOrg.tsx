// Registering a Dynamics 365 organisation; its webhook and device keys are shown once, with where they go.
import { Button, Spinner, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useMemo, useState, type FormEvent } from "react";
import { api, call } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { LinkButton, Section, apiFieldError } from "./bits";
import { NewKeys } from "./NewKeys";
import { OrgFields, authOf, businessOf, emptyOrg, orgProblems, type OrgForm } from "./OrgFields";
import { strings } from "./strings";
import type { OrgCreated } from "./types";

const useStyles = makeStyles({
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "36rem" },
});

export default function AddOrg() {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const [form, setForm] = useState<OrgForm>(emptyOrg);
  const [tried, setTried] = useState(false);
  const [running, setRunning] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const [created, setCreated] = useState<OrgCreated | null>(null);
  // The same request sent again (a retry after a lost answer) is safe; a changed one is a new request.
  const idempotencyKey = useMemo(() => crypto.randomUUID(), [form]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    if (Object.values(orgProblems(form, true)).some(Boolean)) return;
    setRunning(true);
    setFailure(null);
    try {
      const org = await call(
        api.POST("/api/partners/{partnerId}/orgs", {
          params: { path: { partnerId }, header: { "Idempotency-Key": idempotencyKey } },
          body: {
            organizationId: form.organizationId.trim().toLowerCase(),
            name: form.name.trim(),
            uniqueName: form.uniqueName.trim(),
            languageCode: Number(form.languageCode),
            business: businessOf(form),
            webhookAuth: authOf(form),
            tenantId: form.tenantId.trim() ? form.tenantId.trim().toLowerCase() : null,
          },
        }),
      );
      setCreated(org);
    } catch (error) {
      setFailure(error);
    } finally {
      setRunning(false);
    }
  };

  if (created) {
    return (
      <PageFrame
        title={t("addedTitle", { name: created.name })}
        description={t("addedDescription")}
        actions={
          <LinkButton to={`/dynamics/${created.id}`} appearance="primary">
            {t("openOrg")}
          </LinkButton>
        }
      >
        <NewKeys
          webhookUrl={created.webhookUrl}
          webhookKey={created.webhookKey}
          headerName={created.webhookAuth.type === "HttpHeader" ? created.webhookAuth.headerName : null}
          deviceKey={created.deviceKey}
        />
        <Text>{t("proofNext")}</Text>
      </PageFrame>
    );
  }

  return (
    <PageFrame
      title={t("addTitle")}
      description={t("addDescription")}
      actions={<LinkButton to="/dynamics">{t("back")}</LinkButton>}
    >
      <Section title={t("orgDetails")}>
        <form className={styles.form} onSubmit={(e) => void submit(e)} noValidate>
          <OrgFields
            form={form}
            set={(change) => setForm((before) => ({ ...before, ...change }))}
            message={(field, own) => (tried && own ? own : apiFieldError(failure, field))}
            withOrgId
          />
          {failure ? <Problem error={failure} /> : null}
          <div>
            <Button type="submit" appearance="primary" disabled={running} icon={running ? <Spinner size="tiny" /> : undefined}>
              {t("addOrg")}
            </Button>
            {running ? <span role="status"> {t("adding")}</span> : null}
          </div>
        </form>
      </Section>
    </PageFrame>
  );
}
