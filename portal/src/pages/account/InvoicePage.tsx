// One invoice or credit note: who it is from and to, its lines, VAT and total, its payment, and its PDF.
import {
  Spinner,
  Subtitle2,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useParams } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Facts } from "../privacy/bits";
import { InvoicePdf } from "./InvoicePdf";
import { cents } from "./money";
import { strings } from "./strings";

type Party = Schemas["Party"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "60rem" },
});

function partyText(party: Party): string {
  return [party.name, party.address, party.country, party.vatNumber, party.chamberOfCommerce].filter(Boolean).join(" · ");
}

export function InvoicePage() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const { invoiceId = "" } = useParams();
  const loaded = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/invoices/{invoiceId}", { params: { path: { partnerId, invoiceId } } })),
    [partnerId, invoiceId],
  );
  const invoice = loaded.data;
  const money = (amount: number) => cents(format, amount, invoice?.currency ?? "EUR");
  return (
    <PageFrame
      title={invoice ? t("invoiceTitle", { kind: t(`kind.${invoice.kind}`), number: invoice.number }) : t("invoicesTitle")}
      actions={
        <>
          <RouteLink to="/account/invoices">{t("backToInvoices")}</RouteLink>
          {invoice ? <InvoicePdf invoiceId={invoice.id} number={invoice.number} label={t("downloadPdf")} /> : null}
        </>
      }
    >
      {loaded.error ? <Problem error={loaded.error} /> : null}
      {loaded.loading && !invoice ? <Spinner size="small" label={t("invoicesTitle")} /> : null}
      {invoice ? (
        <>
          <Facts
            rows={[
              [t("issuer"), partyText(invoice.issuer)],
              [t("customer"), partyText(invoice.customer)],
              [t("currentPeriod"), t("period", { from: format.date(invoice.periodStart), to: format.date(invoice.periodEnd) })],
              [t("issued"), format.date(invoice.issuedAt)],
              [t("due"), format.date(invoice.dueAt)],
              [t("status"), t(`status.${invoice.status}`)],
              [t("credits"), invoice.creditsNumber ?? null],
              [t("reason"), invoice.reason ?? null],
              [t("credited"), invoice.creditedCents ? money(invoice.creditedCents) : null],
              [t("payment"), invoice.paymentDetails],
            ]}
          />
          <section className={styles.section} aria-labelledby="lines">
            <h2 id="lines">
              <Subtitle2>{t("lines")}</Subtitle2>
            </h2>
            <Table aria-label={t("linesLabel", { number: invoice.number })} size="small">
              <TableHeader>
                <TableRow>
                  <TableHeaderCell>{t("description2")}</TableHeaderCell>
                  <TableHeaderCell>{t("quantity")}</TableHeaderCell>
                  <TableHeaderCell>{t("unitPrice")}</TableHeaderCell>
                  <TableHeaderCell>{t("amount")}</TableHeaderCell>
                </TableRow>
              </TableHeader>
              <TableBody>
                {invoice.lines.map((line, index) => (
                  <TableRow key={index}>
                    <TableCell>{line.description}</TableCell>
                    <TableCell>{format.number(line.quantity)}</TableCell>
                    <TableCell>{money(Number(line.unitPriceCents))}</TableCell>
                    <TableCell>{money(line.amountCents)}</TableCell>
                  </TableRow>
                ))}
                <TableRow>
                  <TableCell>{t("subtotal")}</TableCell>
                  <TableCell />
                  <TableCell />
                  <TableCell>{money(invoice.subtotalCents)}</TableCell>
                </TableRow>
                <TableRow>
                  <TableCell>
                    {t("vatLine", { rate: invoice.vat.ratePercent })}
                    {invoice.vat.note ? ` — ${invoice.vat.note}` : ""}
                  </TableCell>
                  <TableCell />
                  <TableCell />
                  <TableCell>{money(invoice.vat.amountCents)}</TableCell>
                </TableRow>
                <TableRow>
                  <TableCell>
                    <strong>{t("total")}</strong>
                  </TableCell>
                  <TableCell />
                  <TableCell />
                  <TableCell>
                    <strong>{money(invoice.totalCents)}</strong>
                  </TableCell>
                </TableRow>
              </TableBody>
            </Table>
          </section>
        </>
      ) : null}
    </PageFrame>
  );
}
