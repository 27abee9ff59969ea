// The template grammar of shared/notifications/templates.py, mirrored so a rule's templates are checked as
// they are typed; the API checks them again on save and its answer decides.

/** The built-ins a template may name with a `$` (templates.BUILTINS). */
export const BUILTINS = ["$entity", "$initiatingUserId", "$message", "$organizationId", "$recordId"] as const;

const TOKEN = /\{\{|\}\}|\{([^{}]*)\}|[{}]/g;
const ATTRIBUTE = /^[a-z][a-z0-9_]{0,99}$/;

export type Placeholder =
  | { kind: "builtin" | "attribute"; name: string }
  | { kind: "unknownBuiltin" | "unknownName"; name: string }
  | { kind: "brace"; position: number };

/** Every placeholder of a template in order, known or not (literal `{{` and `}}` are left out). */
export function placeholders(template: string): Placeholder[] {
  const found: Placeholder[] = [];
  for (const match of template.matchAll(TOKEN)) {
    const text = match[0];
    if (text === "{{" || text === "}}") continue;
    const name = match[1];
    if (name === undefined) found.push({ kind: "brace", position: match.index ?? 0 });
    else if (name.startsWith("$"))
      found.push({ kind: (BUILTINS as readonly string[]).includes(name) ? "builtin" : "unknownBuiltin", name });
    else found.push({ kind: ATTRIBUTE.test(name) ? "attribute" : "unknownName", name });
  }
  return found;
}

export function isKnown(placeholder: Placeholder): boolean {
  return placeholder.kind === "builtin" || placeholder.kind === "attribute";
}
