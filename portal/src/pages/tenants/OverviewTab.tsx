// A tenant's overview: access and proof, its sync (followed live), sync history, security defaults, removal.
import { Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AccessPanel } from "./AccessPanel";
import { Details } from "./Details";
import { RemoveTenant } from "./RemoveTenant";
import { SecurityDefaults } from "./SecurityDefaults";
import { Section } from "./Section";
import { SyncHistory } from "./SyncHistory";
import { SyncProgress } from "./SyncProgress";
import { strings } from "./strings";

type Tenant = Schemas["TenantOut"];

type Props = { tenant: Tenant; onChange: (tenant: Tenant) => void; reload: () => void };

export function OverviewTab({ tenant, onChange, reload }: Props) {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const [syncId, setSyncId] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  // The newest sync, queued or running included (the tenant's lastSync names only finished ones).
  const latest = useLoad(
    () =>
      call(
        api.GET("/api/partners/{partnerId}/tenants/{tenantId}/syncs", {
          params: { path: { partnerId, tenantId: tenant.id }, query: { top: 1 } },
        }),
      ),
    [partnerId, tenant.id, tenant.access.state],
  );
  const current = syncId ?? latest.data?.items[0]?.id ?? tenant.lastSync?.id ?? null;
  const proven = tenant.access.state === "proven";
  const finished = () => {
    reload();
    setRound((r) => r + 1);
  };
  return (
    <>
      <AccessPanel tenant={tenant} onChange={onChange} onRefresh={reload} />
      <Section title={t("syncTitle")}>
        <Details
          items={[
            [t("lastSuccess"), format.dateTime(tenant.lastSuccessfulSyncAt)],
            [
              t("counts"),
              t("countsValue", {
                users: format.number(tenant.counts?.users ?? 0),
                groups: format.number(tenant.counts?.groups ?? 0),
              }),
            ],
            ...(tenant.lastError ? ([[t("lastError"), tenant.lastError]] as [string, string][]) : []),
          ]}
        />
        {latest.loading && !current ? null : current ? (
          <SyncProgress tenantId={tenant.id} syncId={current} onFinished={finished} />
        ) : (
          <Text>{proven ? t("never") : t("notProvenSync")}</Text>
        )}
        <div>
          <ActionButton
            label={t("syncNow")}
            appearance="primary"
            disabled={!proven}
            run={() =>
              call(
                api.POST("/api/partners/{partnerId}/tenants/{tenantId}/sync", {
                  params: { path: { partnerId, tenantId: tenant.id } },
                }),
              )
            }
            onDone={(sync) => {
              setSyncId(sync.id);
              setRound((r) => r + 1);
            }}
            done={() => t("syncStarted")}
          />
        </div>
      </Section>
      <SyncHistory tenantId={tenant.id} round={round} />
      <SecurityDefaults tenant={tenant} />
      <RemoveTenant tenant={tenant} />
    </>
  );
}
