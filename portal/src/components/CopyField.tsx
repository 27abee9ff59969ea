// A secret shown once: read-only, selectable, with a copy button (it is never shown again).
import { Button, Field, Input } from "@fluentui/react-components";
import { useState } from "react";
import { useStrings } from "../i18n";
import { common } from "../strings";

export function CopyField({ label, value, hint }: { label: string; value: string; hint?: string }) {
  const t = useStrings(common);
  const [copied, setCopied] = useState(false);
  return (
    <Field label={label} hint={hint}>
      <Input
        readOnly
        value={value}
        contentAfter={
          <Button
            size="small"
            appearance="transparent"
            onClick={() => void navigator.clipboard.writeText(value).then(() => setCopied(true))}
          >
            {copied ? t("copied") : t("copy")}
          </Button>
        }
      />
    </Field>
  );
}
