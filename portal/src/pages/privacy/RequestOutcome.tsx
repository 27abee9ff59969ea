// What a completed request leaves: an erasure's certificate, an access or portability request's export package.
import {
  Link,
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
import { useState } from "react";
import { api, call, download, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

type Request = Schemas["RequestOut"];
type ErasureCertificate = Schemas["ErasureCertificate"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
  row: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap" },
});

export function Certificate({ request }: { request: Request }) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [certificate, setCertificate] = useState<ErasureCertificate | null>(null);
  const read = () =>
    call(
      api.GET("/api/partners/{partnerId}/privacy/requests/{requestId}/certificate", {
        params: { path: { partnerId, requestId: request.id } },
      }),
    );
  const counts = (label: string, values: Record<string, number>) =>
    Object.keys(values).length ? (
      <Table aria-label={label} size="small">
        <TableHeader>
          <TableRow>
            <TableHeaderCell>{t("category")}</TableHeaderCell>
            <TableHeaderCell>{t("count")}</TableHeaderCell>
          </TableRow>
        </TableHeader>
        <TableBody>
          {Object.entries(values).map(([category, count]) => (
            <TableRow key={category}>
              <TableCell>{category}</TableCell>
              <TableCell>{format.number(count)}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    ) : (
      <Text>{t("none")}</Text>
    );
  return (
    <section className={styles.section} aria-labelledby="certificate">
      <h2 id="certificate">
        <Subtitle2>{t("certificate")}</Subtitle2>
      </h2>
      <Text>{t("certificateIntro")}</Text>
      <div className={styles.row}>
        <ActionButton label={t("viewCertificate")} run={read} onDone={setCertificate} done={() => t("certificateShown")} />
        <ActionButton
          label={t("downloadCertificate")}
          run={read}
          onDone={(value) =>
            download(
              new Blob([JSON.stringify(value, null, 2)], { type: "application/json" }),
              `erasure-certificate-${request.id}.json`,
            )
          }
          done={() => t("downloaded")}
        />
      </div>
      {certificate ? (
        <>
          <Text>{t("certificateIssued", { at: format.dateTime(certificate.issuedAt) })}</Text>
          <h3>{t("deleted")}</h3>
          {counts(t("deleted"), certificate.deleted)}
          <h3>{t("shredded")}</h3>
          {counts(t("shredded"), certificate.cryptoShredded)}
          <h3>{t("kept")}</h3>
          {certificate.kept.length ? (
            <Table aria-label={t("kept")} size="small">
              <TableHeader>
                <TableRow>
                  <TableHeaderCell>{t("category")}</TableHeaderCell>
                  <TableHeaderCell>{t("count")}</TableHeaderCell>
                  <TableHeaderCell>{t("why")}</TableHeaderCell>
                  <TableHeaderCell>{t("until")}</TableHeaderCell>
                </TableRow>
              </TableHeader>
              <TableBody>
                {certificate.kept.map((kept) => (
                  <TableRow key={kept.category}>
                    <TableCell>{kept.category}</TableCell>
                    <TableCell>{format.number(kept.count)}</TableCell>
                    <TableCell>{kept.why}</TableCell>
                    <TableCell>{format.date(kept.until)}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          ) : (
            <Text>{t("none")}</Text>
          )}
        </>
      ) : null}
    </section>
  );
}

export function ExportLink({ request }: { request: Request }) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [link, setLink] = useState<Schemas["ExportLink"] | null>(null);
  return (
    <section className={styles.section} aria-labelledby="export">
      <h2 id="export">
        <Subtitle2>{t("exportPackage")}</Subtitle2>
      </h2>
      <Text>{t("exportIntro")}</Text>
      <ActionButton
        label={t("exportLink")}
        run={() =>
          call(
            api.GET("/api/partners/{partnerId}/privacy/requests/{requestId}/export", {
              params: { path: { partnerId, requestId: request.id } },
            }),
          )
        }
        onDone={setLink}
        done={() => t("exportReady")}
      />
      {link ? (
        <Text>
          <Link href={link.url} download>
            {t("downloadExport")}
          </Link>{" "}
          {t("linkValidUntil", { at: format.dateTime(link.expiresAt) })}
        </Text>
      ) : null}
    </section>
  );
}
