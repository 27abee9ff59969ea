// The privacy area's sections.
import { useStrings } from "../../i18n";
import { SectionLinks } from "./bits";
import { strings } from "./strings";

export function PrivacyLinks() {
  const t = useStrings(strings);
  return (
    <SectionLinks
      links={[
        { to: "/privacy", label: t("navRequests") },
        { to: "/privacy/breaches", label: t("navBreaches") },
        { to: "/privacy/processing", label: t("navProcessing") },
        { to: "/privacy/subprocessors", label: t("navSubprocessors") },
        { to: "/privacy/settings", label: t("navSettings") },
      ]}
    />
  );
}
