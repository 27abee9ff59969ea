// A new signing secret for a webhook subscription (shown once); the previous one keeps signing for the overlap.
import { Field, Input, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "../privacy/FormDialog";
import { strings } from "./strings";

export function RotateSecret({
  subscriptionId,
  onRotated,
}: {
  subscriptionId: string;
  onRotated: (rotated: Schemas["SecretRotated"]) => void;
}) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [hours, setHours] = useState("24");
  const overlap = Number(hours);
  const error = !/^\d+$/.test(hours.trim()) || overlap > 168 ? t("overlapHint") : null;
  return (
    <FormDialog
      trigger={t("rotate")}
      title={t("rotateTitle")}
      intro={<Text>{t("rotateIntro")}</Text>}
      submitLabel={t("rotateSend")}
      valid={!error}
      onOpen={() => setHours("24")}
      submit={() =>
        call(
          api.POST("/api/partners/{partnerId}/alert-subscriptions/{subscriptionId}/secret/rotate", {
            params: { path: { partnerId, subscriptionId } },
            body: { overlapHours: overlap },
          }),
        )
      }
      onDone={onRotated}
    >
      {(form) => (
        <Field
          label={t("overlap")}
          hint={t("overlapHint")}
          validationMessage={form.message("overlapHours", error)}
          validationState={form.message("overlapHours", error) ? "error" : "none"}
        >
          <Input type="number" min={0} max={168} value={hours} onChange={(_, data) => setHours(data.value)} />
        </Field>
      )}
    </FormDialog>
  );
}
