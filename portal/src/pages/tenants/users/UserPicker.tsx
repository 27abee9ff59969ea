// Picks one of the tenant's end users by typing part of their name, UPN or mail (the API's text search).
import { Combobox, Field, Option } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { api, call, type Schemas } from "../../../api/client";
import { useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { strings } from "./strings";

type User = Schemas["UserOut"];

type Props = {
  tenantId: string;
  label: string;
  hint?: string;
  /** Users not to offer (the user being offboarded, a group's members). */
  exclude?: (userId: string) => boolean;
  onChange: (user: User | null) => void;
  validationMessage?: string;
};

export function UserPicker({ tenantId, label, hint, exclude, onChange, validationMessage }: Props) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [text, setText] = useState("");
  const [found, setFound] = useState<User[]>([]);
  const [searching, setSearching] = useState(false);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    const term = text.trim();
    if (term.length < 2) {
      setFound([]);
      return;
    }
    let current = true;
    // Wait for a pause in typing rather than asking the API on every key.
    const timer = window.setTimeout(() => {
      setSearching(true);
      call(
        api.GET("/api/partners/{partnerId}/tenants/{tenantId}/users", {
          params: { path: { partnerId, tenantId }, query: { search: term, top: 10 } },
        }),
      )
        .then((page) => {
          if (!current) return;
          setFound(page.items);
          setFailed(false);
        })
        .catch(() => current && setFailed(true))
        .finally(() => current && setSearching(false));
    }, 300);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [text, partnerId, tenantId]);

  const offered = found.filter((u) => !exclude?.(u.id));
  let status = hint;
  if (searching) status = t("picker.searching");
  else if (failed) status = t("picker.failed");
  else if (text.trim().length >= 2 && offered.length === 0) status = t("picker.none");

  return (
    <Field label={label} hint={status} validationMessage={validationMessage}>
      <Combobox
        freeform
        value={text}
        placeholder={t("picker.placeholder")}
        onInput={(event) => {
          setText((event.target as HTMLInputElement).value);
          onChange(null);
        }}
        onOptionSelect={(_, data) => {
          const user = offered.find((u) => u.id === data.optionValue) ?? null;
          setText(data.optionText ?? "");
          onChange(user);
        }}
      >
        {offered.map((user) => (
          <Option key={user.id} value={user.id} text={user.displayName ?? user.userPrincipalName ?? user.id}>
            {`${user.displayName ?? "—"} · ${user.userPrincipalName ?? ""}`}
          </Option>
        ))}
      </Combobox>
    </Field>
  );
}
