// Configuration and drift: the current configuration, and the snapshots as a timeline with what changed in each.
import { Spinner } from "@fluentui/react-components";
import { ApiProblem, api, call, type Schemas } from "../../api/client";
import { EmptyState } from "../../components/EmptyState";
import { PagedTable } from "../../components/PagedTable";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { ConfigurationView } from "./ConfigurationView";
import { Section } from "./Section";
import { SnapshotChanges } from "./SnapshotChanges";
import { strings } from "./strings";

type Snapshot = Schemas["SnapshotOut"];

export function ConfigurationTab({ tenant }: { tenant: Schemas["TenantOut"] }) {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const path = { partnerId, tenantId: tenant.id };
  const configuration = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/tenants/{tenantId}/configuration", { params: { path } })),
    [partnerId, tenant.id, tenant.lastSuccessfulSyncAt],
  );
  if (tenant.access.state === "pendingProof") return <EmptyState>{t("notProvenYet")}</EmptyState>;
  const none = configuration.error instanceof ApiProblem && configuration.error.status === 404;
  return (
    <>
      <Section title={t("configTitle")}>
        {configuration.loading && !configuration.data ? <Spinner size="small" label={t("configTitle")} /> : null}
        {none ? <EmptyState>{t("configNone")}</EmptyState> : null}
        {configuration.error && !none ? <Problem error={configuration.error} /> : null}
        {configuration.data ? <ConfigurationView snapshot={configuration.data} /> : null}
      </Section>
      <Section title={t("snapshotsTitle")}>
        <PagedTable<Snapshot>
          label={t("snapshotsLabel")}
          rowKey={(snapshot) => snapshot.syncId}
          empty={t("snapshotsEmpty")}
          resetOn={[partnerId, tenant.id, tenant.lastSuccessfulSyncAt]}
          // The API keeps few snapshots (the latest 10 and those drift compares) and answers them in one page.
          load={() => call(api.GET("/api/partners/{partnerId}/tenants/{tenantId}/snapshots", { params: { path } }))}
          columns={[
            { key: "taken", header: t("takenAt"), cell: (s) => format.dateTime(s.takenAt) },
            { key: "kept", header: t("kept"), cell: (s) => (s.comparedByDrift ? t("keptForDrift") : t("keptLatest")) },
            {
              key: "changes",
              header: t("changes"),
              cell: (s) => <SnapshotChanges tenantId={tenant.id} syncId={s.syncId} />,
            },
          ]}
        />
      </Section>
    </>
  );
}
