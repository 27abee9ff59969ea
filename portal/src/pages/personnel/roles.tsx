// The partner's roles, each with one line on what it may do, as a picker and as a list.
import { Field, Select, Text, makeStyles, tokens } from "@fluentui/react-components";
import type { Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { strings } from "./strings";

export type Role = Schemas["Role"];
export const ROLES: Role[] = ["owner", "admin", "operator", "privacyOfficer", "viewer"];

const useStyles = makeStyles({
  list: { margin: 0, paddingLeft: tokens.spacingHorizontalXL, display: "flex", flexDirection: "column", gap: tokens.spacingVerticalXS },
});

export function RoleField({ value, onChange, message }: { value: Role; onChange: (role: Role) => void; message?: string }) {
  const t = useStrings(strings);
  return (
    <Field label={t("role")} hint={t(`roleLine.${value}`)} validationMessage={message} required>
      <Select value={value} onChange={(_, data) => onChange(data.value as Role)}>
        {ROLES.map((role) => (
          <option key={role} value={role}>
            {t(`role.${role}`)}
          </option>
        ))}
      </Select>
    </Field>
  );
}

export function RoleList() {
  const t = useStrings(strings);
  const styles = useStyles();
  return (
    <ul className={styles.list}>
      {ROLES.map((role) => (
        <li key={role}>
          <Text weight="semibold">{t(`role.${role}`)}</Text>: <Text>{t(`roleLine.${role}`)}</Text>
        </li>
      ))}
    </ul>
  );
}
