// The partner's privacy settings, its approval of the Firebase transfer, and packages of all its data.
import {
  Badge,
  Button,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  Select,
  Spinner,
  Subtitle2,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useEffect, useState, type FormEvent } from "react";
import { ApiProblem, api, call } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { who } from "./bits";
import { DataReturns } from "./DataReturns";
import { PrivacyLinks } from "./PrivacyLinks";
import { strings } from "./strings";

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "48rem" },
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, alignItems: "flex-start" },
  row: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap" },
});

export function Settings() {
  const t = useStrings(strings);
  return (
    <PageFrame title={t("settingsTitle")} description={t("settingsDescription")} actions={<PrivacyLinks />}>
      <RetentionSettings />
      <FirebaseTransfer />
      <DataReturns />
    </PageFrame>
  );
}

function RetentionSettings() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const settings = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/privacy/settings", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const [years, setYears] = useState("7");
  const [days, setDays] = useState("90");
  const [saving, setSaving] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: true; at: string | null | undefined } | { ok: false; error: unknown } | null>(null);

  useEffect(() => {
    if (!settings.data) return;
    setYears(String(settings.data.administrationRetentionYears));
    setDays(String(settings.data.notificationRetentionDays ?? 90));
  }, [settings.data]);

  const count = Number(days);
  const daysError = !Number.isInteger(count) || count < 30 || count > 365 ? t("errorRetentionDays") : null;
  const apiError = (field: string) =>
    outcome && !outcome.ok && outcome.error instanceof ApiProblem
      ? outcome.error.errors.find((e) => e.field?.endsWith(field))?.message
      : undefined;

  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (daysError) return;
    setSaving(true);
    setOutcome(null);
    try {
      const saved = await call(
        api.PUT("/api/partners/{partnerId}/privacy/settings", {
          params: { path: { partnerId } },
          body: { administrationRetentionYears: Number(years) as 7 | 10, notificationRetentionDays: count },
        }),
      );
      setOutcome({ ok: true, at: saved.updatedAt });
    } catch (error) {
      setOutcome({ ok: false, error });
    } finally {
      setSaving(false);
    }
  };

  return (
    <section className={styles.section} aria-labelledby="retention">
      <h2 id="retention">
        <Subtitle2>{t("retentionTitle")}</Subtitle2>
      </h2>
      {settings.error ? <Problem error={settings.error} /> : null}
      {settings.loading && !settings.data ? <Spinner size="small" label={t("loading")} /> : null}
      {settings.data ? (
        <form className={styles.form} onSubmit={(event) => void save(event)} noValidate>
          <Field label={t("administrationYears")} hint={t("administrationYearsHint")} validationMessage={apiError("administrationRetentionYears")}>
            <Select value={years} onChange={(_, data) => setYears(data.value)}>
              <option value="7">{t("years", { years: 7 })}</option>
              <option value="10">{t("years", { years: 10 })}</option>
            </Select>
          </Field>
          <Field
            label={t("notificationDays")}
            hint={t("notificationDaysHint")}
            validationMessage={daysError ?? apiError("notificationRetentionDays")}
          >
            <Input type="number" min={30} max={365} value={days} onChange={(_, data) => setDays(data.value)} />
          </Field>
          {settings.data.updatedAt ? (
            <Text size={200}>{t("lastChanged", { at: format.dateTime(outcome?.ok ? outcome.at : settings.data.updatedAt) })}</Text>
          ) : null}
          <Button type="submit" appearance="primary" disabled={saving} icon={saving ? <Spinner size="tiny" /> : undefined}>
            {t("save")}
          </Button>
          {outcome?.ok ? (
            <MessageBar intent="success" role="status">
              <MessageBarBody>{t("saved")}</MessageBarBody>
            </MessageBar>
          ) : null}
          {outcome && !outcome.ok ? <Problem error={outcome.error} /> : null}
        </form>
      ) : null}
    </section>
  );
}

function FirebaseTransfer() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const record = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/privacy/processing-activities", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const transfer = record.data?.transfers.find((x) => x.service === "firebase");
  return (
    <section className={styles.section} aria-labelledby="firebase">
      <h2 id="firebase">
        <Subtitle2>{t("firebaseTitle")}</Subtitle2>
      </h2>
      <Text>{t("firebaseExplain")}</Text>
      {record.error ? <Problem error={record.error} /> : null}
      {record.loading && !record.data ? <Spinner size="small" label={t("loading")} /> : null}
      {transfer ? (
        <>
          <Text>
            <Badge appearance="tint" color={transfer.approved ? "success" : "warning"}>
              {transfer.approved ? t("approved") : t("notApproved")}
            </Badge>{" "}
            {transfer.approved && transfer.approvedAt
              ? t("approvalText", { by: who(transfer.approvedBy) ?? "—", at: format.dateTime(transfer.approvedAt) })
              : t("firebaseNotApprovedText")}
          </Text>
          <Text size={200}>
            {transfer.provider} · {transfer.destination} · {transfer.mechanism}
          </Text>
          <div className={styles.row}>
            {transfer.approved ? (
              <ActionButton
                label={t("firebaseWithdraw")}
                confirm={{ title: t("firebaseWithdrawTitle"), body: t("firebaseWithdrawBody") }}
                run={() =>
                  call(api.DELETE("/api/partners/{partnerId}/privacy/transfers/firebase", { params: { path: { partnerId } } }))
                }
                onDone={record.reload}
                done={() => t("firebaseWithdrawn")}
              />
            ) : (
              <ActionButton
                label={t("firebaseApprove")}
                appearance="primary"
                confirm={{ title: t("firebaseApproveTitle"), body: t("firebaseApproveBody") }}
                run={() =>
                  call(api.PUT("/api/partners/{partnerId}/privacy/transfers/firebase", { params: { path: { partnerId } } }))
                }
                onDone={record.reload}
                done={() => t("firebaseApproved")}
              />
            )}
          </div>
        </>
      ) : null}
    </section>
  );
}
