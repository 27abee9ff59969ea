// The partner's invoices and credit notes, oldest first, page by page; each with its PDF.
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AccountLinks } from "./AccountLinks";
import { InvoicePdf } from "./InvoicePdf";
import { cents } from "./money";
import { strings } from "./strings";

type Invoice = Schemas["InvoiceOut"];

export function Invoices() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  return (
    <PageFrame title={t("invoicesTitle")} description={t("invoicesDescription")} actions={<AccountLinks />}>
      <PagedTable<Invoice>
        label={t("invoicesLabel")}
        rowKey={(invoice) => invoice.id}
        empty={t("invoicesEmpty")}
        resetOn={[partnerId]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/invoices", {
              params: { path: { partnerId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          {
            key: "number",
            header: t("number"),
            cell: (invoice) => <RouteLink to={`/account/invoices/${invoice.id}`}>{invoice.number}</RouteLink>,
          },
          { key: "kind", header: t("kind"), cell: (invoice) => t(`kind.${invoice.kind}`) },
          {
            key: "period",
            header: t("currentPeriod"),
            cell: (invoice) => t("period", { from: format.date(invoice.periodStart), to: format.date(invoice.periodEnd) }),
          },
          { key: "issued", header: t("issued"), cell: (invoice) => format.date(invoice.issuedAt) },
          { key: "due", header: t("due"), cell: (invoice) => format.date(invoice.dueAt) },
          { key: "total", header: t("total"), cell: (invoice) => cents(format, invoice.totalCents, invoice.currency) },
          { key: "status", header: t("status"), cell: (invoice) => t(`status.${invoice.status}`) },
          {
            key: "pdf",
            header: t("pdf"),
            cell: (invoice) => <InvoicePdf invoiceId={invoice.id} number={invoice.number} />,
          },
        ]}
      />
    </PageFrame>
  );
}
