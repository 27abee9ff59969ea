// What a template's placeholders are, as the person types: each known one (an attribute or a built-in) or not.
import { Badge, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useStrings } from "../../i18n";
import { BUILTINS, isKnown, placeholders, type Placeholder } from "./placeholders";
import { strings } from "./strings";

const useStyles = makeStyles({
  list: { display: "flex", flexWrap: "wrap", gap: tokens.spacingHorizontalS, listStyleType: "none", margin: 0, padding: 0 },
});

const builtins = BUILTINS.map((name) => `{${name}}`).join(", ");

/** The problems of a template in the person's language (empty when the API would take it). */
export function usePlaceholderProblems(): (template: string) => string[] {
  const t = useStrings(strings);
  return (template) =>
    placeholders(template)
      .filter((p) => !isKnown(p))
      .map((p) =>
        p.kind === "brace"
          ? t("phBrace", { position: p.position + 1 })
          : p.kind === "unknownBuiltin"
            ? t("phUnknownBuiltin", { name: `{${p.name}}`, builtins })
            : t("phUnknownName", { name: `{${"name" in p ? p.name : ""}}` }),
      );
}

function label(p: Placeholder): string {
  return p.kind === "brace" ? (p.position >= 0 ? "{ }" : "") : `{${p.name}}`;
}

export function PlaceholderCheck({ template, name }: { template: string; name: string }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const found = placeholders(template);
  if (found.length === 0) return null;
  const kind = (p: Placeholder) =>
    p.kind === "builtin"
      ? t("phBuiltin")
      : p.kind === "attribute"
        ? t("phAttribute")
        : p.kind === "brace"
          ? t("phStrayBrace")
          : t("phUnknown");
  return (
    <div>
      <Text size={200}>{t("phIn", { field: name })}</Text>
      <ul className={styles.list} aria-label={t("phIn", { field: name })}>
        {found.map((p, i) => (
          <li key={i}>
            <Badge appearance="tint" color={isKnown(p) ? "success" : "danger"}>
              {`${label(p)} · ${kind(p)}`}
            </Badge>
          </li>
        ))}
      </ul>
    </div>
  );
}
