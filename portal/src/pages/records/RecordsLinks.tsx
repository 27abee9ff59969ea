// The records area's sections.
import { useStrings } from "../../i18n";
import { SectionLinks } from "../privacy/bits";
import { strings } from "./strings";

export function RecordsLinks() {
  const t = useStrings(strings);
  return (
    <SectionLinks
      links={[
        { to: "/records", label: t("navComplaints") },
        { to: "/records/correspondence", label: t("navCorrespondence") },
      ]}
    />
  );
}
