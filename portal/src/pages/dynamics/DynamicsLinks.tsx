// The Dynamics area's sections: the organisations, and the consent of the notifications' mailing list.
import { useStrings } from "../../i18n";
import { SectionLinks } from "./bits";
import { strings } from "./strings";

export function DynamicsLinks() {
  const t = useStrings(strings);
  return (
    <SectionLinks
      links={[
        { to: "/dynamics", label: t("navOrgs") },
        { to: "/dynamics/consent", label: t("navConsent") },
      ]}
    />
  );
}
