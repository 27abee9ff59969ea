// Tenantry's sub-processors per region, the announced changes, and the partner's objection to one of them.
import {
  Spinner,
  Subtitle2,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  Textarea,
  Field,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { EmptyState } from "../../components/EmptyState";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Facts, who } from "./bits";
import { FormDialog } from "./FormDialog";
import { PrivacyLinks } from "./PrivacyLinks";
import { strings } from "./strings";

type Change = Schemas["SubprocessorChangeOut"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
  change: {
    display: "flex",
    flexDirection: "column",
    gap: tokens.spacingVerticalS,
    padding: tokens.spacingVerticalM,
    border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
    borderRadius: tokens.borderRadiusMedium,
  },
});

export function Subprocessors() {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const list = useLoad(() => call(api.GET("/api/privacy/subprocessors")), []);
  const record = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/privacy/processing-activities", { params: { path: { partnerId } } })),
    [partnerId],
  );
  return (
    <PageFrame title={t("subprocessorsTitle")} description={t("subprocessorsDescription")} actions={<PrivacyLinks />}>
      <section className={styles.section} aria-labelledby="changes">
        <h2 id="changes">
          <Subtitle2>{t("pendingChanges")}</Subtitle2>
        </h2>
        {record.error ? <Problem error={record.error} /> : null}
        {record.loading && !record.data ? <Spinner size="small" label={t("loading")} /> : null}
        {record.data && record.data.pendingSubprocessorChanges.length === 0 ? (
          <EmptyState>{t("pendingChangesEmpty")}</EmptyState>
        ) : null}
        {record.data?.pendingSubprocessorChanges.map((change) => (
          <PendingChange key={change.id} change={change} onObjected={record.reload} />
        ))}
      </section>
      {list.error ? <Problem error={list.error} /> : null}
      {list.loading && !list.data ? <Spinner size="small" label={t("loading")} /> : null}
      {list.data?.items.map((region) => (
        <section key={region.region} className={styles.section} aria-labelledby={`region-${region.region}`}>
          <h2 id={`region-${region.region}`}>
            <Subtitle2>{t("regionSubprocessors", { region: region.region.toUpperCase() })}</Subtitle2>
          </h2>
          <Table aria-label={t("regionSubprocessors", { region: region.region.toUpperCase() })} size="small">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>{t("subprocessorName")}</TableHeaderCell>
                <TableHeaderCell>{t("subprocessorService")}</TableHeaderCell>
                <TableHeaderCell>{t("activityPurpose")}</TableHeaderCell>
                <TableHeaderCell>{t("subprocessorLocation")}</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {region.subprocessors.map((s) => (
                <TableRow key={`${s.name}:${s.service}`}>
                  <TableCell>{s.name}</TableCell>
                  <TableCell>{s.service}</TableCell>
                  <TableCell>{s.purpose}</TableCell>
                  <TableCell>{s.location}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </section>
      ))}
    </PageFrame>
  );
}

function PendingChange({ change, onObjected }: { change: Change; onObjected: () => void }) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [reason, setReason] = useState("");
  const open = new Date(change.objectionUntil).getTime() > Date.now();
  const reasonError = !reason.trim() ? t("errorRequired") : null;
  return (
    <div className={styles.change}>
      <Text weight="semibold">{change.title}</Text>
      <Text>{change.description}</Text>
      <Facts
        rows={[
          [t("effectiveAt"), format.date(change.effectiveAt)],
          [t("regions"), change.regions.join(", ").toUpperCase()],
          [t("announcedAt"), format.date(change.announcedAt)],
          [t("objectionUntil"), format.dateTime(change.objectionUntil)],
          [
            t("objection"),
            change.objection
              ? t("objectionText", {
                  by: who(change.objection.objectedBy) ?? "—",
                  at: format.dateTime(change.objection.objectedAt),
                  reason: change.objection.reason,
                })
              : null,
          ],
        ]}
      />
      {!change.objection && open ? (
        <FormDialog
          trigger={t("object")}
          title={t("objectTitle", { title: change.title })}
          intro={t("objectIntro", { until: format.dateTime(change.objectionUntil) })}
          submitLabel={t("objectSubmit")}
          valid={!reasonError}
          onOpen={() => setReason("")}
          submit={() =>
            call(
              api.POST("/api/partners/{partnerId}/privacy/subprocessor-changes/{changeId}/objection", {
                params: { path: { partnerId, changeId: change.id } },
                body: { reason: reason.trim() },
              }),
            )
          }
          onDone={onObjected}
        >
          {(form) => (
            <Field label={t("objectReason")} required validationMessage={form.message("reason", reasonError)}>
              <Textarea value={reason} onChange={(_, data) => setReason(data.value)} maxLength={2000} />
            </Field>
          )}
        </FormDialog>
      ) : null}
      {!change.objection && !open ? <Text>{t("objectionClosed")}</Text> : null}
    </div>
  );
}
