// The record of processing as it stands for the partner: what is kept, why, how long, where, and the transfers.
import {
  Badge,
  Spinner,
  Subtitle2,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { api, call } from "../../api/client";
import { EmptyState } from "../../components/EmptyState";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Facts, who } from "./bits";
import { PrivacyLinks } from "./PrivacyLinks";
import { strings } from "./strings";

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
  // Long store and basis names wrap inside their column rather than widening the page.
  wrapping: { tableLayout: "fixed", "& td": { overflowWrap: "anywhere", verticalAlign: "top" } },
});

export function Processing() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const record = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/privacy/processing-activities", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const data = record.data;
  return (
    <PageFrame title={t("processingTitle")} description={t("processingDescription")} actions={<PrivacyLinks />}>
      {record.error ? <Problem error={record.error} /> : null}
      {record.loading && !data ? <Spinner label={t("loading")} /> : null}
      {data ? (
        <>
          <Facts
            rows={[
              [t("controllerRole"), data.controllerRole],
              [t("processorRole"), data.processorRole],
              [t("catalogueVersion"), data.catalogueVersion],
            ]}
          />
          <section className={styles.section} aria-labelledby="activities">
            <h2 id="activities">
              <Subtitle2>{t("activities")}</Subtitle2>
            </h2>
            {data.activities.length ? (
              <Table aria-label={t("activities")} size="small" className={styles.wrapping}>
                  <TableHeader>
                    <TableRow>
                      <TableHeaderCell>{t("activityStore")}</TableHeaderCell>
                      <TableHeaderCell>{t("activityPurpose")}</TableHeaderCell>
                      <TableHeaderCell>{t("activityData")}</TableHeaderCell>
                      <TableHeaderCell>{t("activityBasis")}</TableHeaderCell>
                      <TableHeaderCell>{t("activityRetention")}</TableHeaderCell>
                      <TableHeaderCell>{t("activityRecipients")}</TableHeaderCell>
                      <TableHeaderCell>{t("activityWhere")}</TableHeaderCell>
                    </TableRow>
                  </TableHeader>
                  <TableBody>
                    {data.activities.map((activity) => (
                      <TableRow key={`${activity.store}:${activity.kind}`}>
                        <TableCell>
                          <Text weight="semibold">{activity.store}</Text>
                          <br />
                          <Text size={200}>
                            {activity.kind} · {activity.role}
                          </Text>
                        </TableCell>
                        <TableCell>{activity.purpose}</TableCell>
                        <TableCell>
                          {activity.categories.join(", ")}
                          <br />
                          <Text size={200}>{t("activitySubjects", { subjects: activity.dataSubjects.join(", ") })}</Text>
                        </TableCell>
                        <TableCell>{activity.legalBasis}</TableCell>
                        <TableCell>{activity.retention}</TableCell>
                        <TableCell>{activity.recipients.join(", ") || "—"}</TableCell>
                        <TableCell>
                          {activity.placement}
                          <br />
                          <Text size={200}>{activity.transfers}</Text>
                        </TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
            ) : (
              <EmptyState>{t("activitiesEmpty")}</EmptyState>
            )}
          </section>
          <section className={styles.section} aria-labelledby="transfers">
            <h2 id="transfers">
              <Subtitle2>{t("transfers")}</Subtitle2>
            </h2>
            {data.transfers.length ? (
              <Table aria-label={t("transfers")} size="small" className={styles.wrapping}>
                <TableHeader>
                  <TableRow>
                    <TableHeaderCell>{t("transferService")}</TableHeaderCell>
                    <TableHeaderCell>{t("transferProvider")}</TableHeaderCell>
                    <TableHeaderCell>{t("transferDestination")}</TableHeaderCell>
                    <TableHeaderCell>{t("transferMechanism")}</TableHeaderCell>
                    <TableHeaderCell>{t("transferApproval")}</TableHeaderCell>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {data.transfers.map((transfer) => (
                    <TableRow key={transfer.service}>
                      <TableCell>{transfer.service}</TableCell>
                      <TableCell>{transfer.provider}</TableCell>
                      <TableCell>{transfer.destination}</TableCell>
                      <TableCell>{transfer.mechanism}</TableCell>
                      <TableCell>
                        <Badge appearance="tint" color={transfer.approved ? "success" : "warning"}>
                          {transfer.approved ? t("approved") : t("notApproved")}
                        </Badge>{" "}
                        {transfer.approvedAt
                          ? t("approvalText", { by: who(transfer.approvedBy) ?? "—", at: format.dateTime(transfer.approvedAt) })
                          : null}
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            ) : (
              <EmptyState>{t("transfersEmpty")}</EmptyState>
            )}
          </section>
          <section className={styles.section} aria-labelledby="security">
            <h2 id="security">
              <Subtitle2>{t("securityMeasures")}</Subtitle2>
            </h2>
            <ul>
              {data.securityMeasures.map((measure) => (
                <li key={measure}>{measure}</li>
              ))}
            </ul>
          </section>
        </>
      ) : null}
    </PageFrame>
  );
}
