// The account area's sections.
import { useStrings } from "../../i18n";
import { SectionLinks } from "../privacy/bits";
import { strings } from "./strings";

export function AccountLinks() {
  const t = useStrings(strings);
  return (
    <SectionLinks
      links={[
        { to: "/account", label: t("navSubscription") },
        { to: "/account/administration", label: t("navAdministration") },
        { to: "/account/invoices", label: t("navInvoices") },
      ]}
    />
  );
}
