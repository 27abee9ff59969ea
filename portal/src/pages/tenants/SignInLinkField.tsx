// A sign-in link the API made for an administrator: copy it, or open it, before it expires.
import { Link, makeStyles, tokens } from "@fluentui/react-components";
import type { Schemas } from "../../api/client";
import { CopyField } from "../../components/CopyField";
import { useFormat, useStrings } from "../../i18n";
import { strings } from "./strings";

const useStyles = makeStyles({
  root: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalXS, maxWidth: "48rem" },
});

export function SignInLinkField({ label, link }: { label: string; link: Schemas["SignInLink"] }) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  return (
    <div className={styles.root}>
      <CopyField label={label} value={link.url} hint={t("linkHint", { expires: format.dateTime(link.expiresAt) })} />
      <Link href={link.url} target="_blank" rel="noopener noreferrer">
        {t("openLink")}
      </Link>
    </div>
  );
}
