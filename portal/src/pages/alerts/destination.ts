// Where a subscription sends: its address, or its e-mail recipients.
import type { Schemas } from "../../api/client";

export function destination(subscription: Schemas["AlertSubscriptionOut"]): string {
  return subscription.url ?? subscription.recipients.join(", ");
}
