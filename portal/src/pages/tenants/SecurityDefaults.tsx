// A tenant's security defaults: on or off as last synced, and the switch (confirmed: it changes the customer's tenant).
import { Text } from "@fluentui/react-components";
import { useState } from "react";
import { ApiProblem, api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Section } from "./Section";
import { strings } from "./strings";

type Tenant = Schemas["TenantOut"];

export function SecurityDefaults({ tenant }: { tenant: Tenant }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const path = { partnerId, tenantId: tenant.id };
  const [changed, setChanged] = useState<boolean | null>(null);
  const configuration = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/tenants/{tenantId}/configuration", { params: { path } })),
    [partnerId, tenant.id, tenant.lastSuccessfulSyncAt],
  );
  const missing = configuration.error instanceof ApiProblem && [404, 409].includes(configuration.error.status);
  const synced = (configuration.data?.configuration as { securityDefaults?: { isEnabled?: boolean } | null } | undefined)
    ?.securityDefaults?.isEnabled;
  const enabled = changed ?? synced ?? null;
  const switchTo = (on: boolean) => (
    <ActionButton
      key={String(on)}
      label={on ? t("sdTurnOn") : t("sdTurnOff")}
      confirm={{
        title: t(on ? "sdConfirmOn" : "sdConfirmOff", { name: tenant.displayName }),
        body: t("sdConfirmBody"),
      }}
      run={() =>
        call(
          api.PUT("/api/partners/{partnerId}/tenants/{tenantId}/security-defaults", {
            params: { path },
            body: { enabled: on },
          }),
        )
      }
      onDone={(answer) => setChanged(answer.enabled)}
      done={(answer) => t("sdDone", { state: answer.enabled ? t("on") : t("off") })}
      disabled={tenant.access.state !== "proven"}
    />
  );
  return (
    <Section title={t("sdTitle")}>
      {configuration.error && !missing ? <Problem error={configuration.error} /> : null}
      <Text>{enabled === null ? t("sdUnknown") : enabled ? t("sdOn") : t("sdOff")}</Text>
      <div>{enabled === null ? [switchTo(true), switchTo(false)] : switchTo(!enabled)}</div>
    </Section>
  );
}
