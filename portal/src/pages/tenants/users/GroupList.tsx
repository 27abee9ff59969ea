// The tenant's Microsoft 365, security and distribution groups as last synced, paged.
import { Title3, makeStyles, tokens } from "@fluentui/react-components";
import { api, call, type Schemas } from "../../../api/client";
import { PagedTable } from "../../../components/PagedTable";
import { RouteLink } from "../../../components/RouteLink";
import { useFormat, useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { groupKind } from "./groupKind";
import { useParamLink } from "./links";
import { strings } from "./strings";

type Group = Schemas["GroupOut"];

const useStyles = makeStyles({
  root: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
});

export function GroupList({ tenantId }: { tenantId: string }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const format = useFormat();
  const link = useParamLink();
  const { partnerId } = useSession();
  return (
    <section className={styles.root} aria-labelledby="groups-heading">
      <Title3 as="h2" id="groups-heading">
        {t("groups.title")}
      </Title3>
      <PagedTable<Group>
        label={t("groups.title")}
        rowKey={(group) => group.id}
        empty={t("groups.empty")}
        resetOn={[partnerId, tenantId]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/tenants/{tenantId}/groups", {
              params: { path: { partnerId, tenantId }, query: { continuationToken, top: 50 } },
            }),
          )
        }
        columns={[
          {
            key: "name",
            header: t("group.name"),
            cell: (group) => <RouteLink to={link({ group: group.id })}>{group.displayName ?? group.id}</RouteLink>,
          },
          { key: "kind", header: t("group.kind"), cell: (group) => t(`groupKind.${groupKind(group)}`) },
          { key: "mail", header: t("group.mail"), cell: (group) => group.mail ?? "—" },
          { key: "members", header: t("group.members"), cell: (group) => format.number(group.memberCount) },
        ]}
      />
    </section>
  );
}
