// Rotating a key's secret: the new one is shown once; the old one keeps working for the chosen overlap.
import { Field, Select, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "../personnel/FormDialog";
import { SecretOnce } from "./SecretOnce";
import { strings } from "./strings";

const OVERLAPS = [0, 1, 24, 72, 168] as const;

export function RotateKeyDialog({ apiKey, onDone }: { apiKey: Schemas["ApiKeyOut"]; onDone: () => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [overlap, setOverlap] = useState<(typeof OVERLAPS)[number]>(24);
  return (
    <FormDialog
      trigger={t("rotate")}
      triggerLabel={t("rotateLabel", { name: apiKey.name })}
      size="small"
      title={t("rotateTitle", { name: apiKey.name })}
      intro={<Text>{t("rotateIntro")}</Text>}
      submitLabel={t("rotateSend")}
      valid
      onOpen={() => setOverlap(24)}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/api-keys/{keyId}/rotate", {
            params: { path: { partnerId, keyId: apiKey.id } },
            body: { overlapHours: overlap },
          }),
        )
      }
      onDone={onDone}
      after={(rotated) => <SecretOnce name={rotated.name} secret={rotated.key} />}
    >
      {(form) => (
        <Field label={t("overlap")} validationMessage={form.message("overlapHours")}>
          <Select
            value={String(overlap)}
            onChange={(_, data) => setOverlap(Number(data.value) as (typeof OVERLAPS)[number])}
          >
            {OVERLAPS.map((hours) => (
              <option key={hours} value={hours}>
                {t(`overlap.${hours}`)}
              </option>
            ))}
          </Select>
        </Field>
      )}
    </FormDialog>
  );
}
