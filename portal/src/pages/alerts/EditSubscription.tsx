// Changing what a subscription hears: alert types, severity, digest, description and licence threshold.
import { api, call, type Schemas } from "../../api/client";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FormDialog } from "../privacy/FormDialog";
import { useHearing } from "./SubscriptionFields";
import { strings } from "./strings";

type Subscription = Schemas["AlertSubscriptionOut"];

export function EditSubscription({ subscription, onSaved }: { subscription: Subscription; onSaved: (s: Subscription) => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const hearing = useHearing(subscription);
  return (
    <FormDialog
      trigger={t("edit")}
      title={t("editTitle")}
      submitLabel={t("editSend")}
      valid={hearing.valid}
      onOpen={hearing.reset}
      submit={() =>
        call(
          api.PATCH("/api/partners/{partnerId}/alert-subscriptions/{subscriptionId}", {
            params: { path: { partnerId, subscriptionId: subscription.id } },
            body: { ...hearing.hearing, description: hearing.hearing.description ?? "", state: null },
          }),
        )
      }
      onDone={onSaved}
    >
      {(form) => hearing.fields(form)}
    </FormDialog>
  );
}
