// The partner's Dynamics 365 organisations (those the person's scope reaches).
import { api, call } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AccessBadge } from "./AccessBadge";
import { LinkButton } from "./bits";
import { DynamicsLinks } from "./DynamicsLinks";
import { strings } from "./strings";
import type { Org } from "./types";


export function OrgList() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  return (
    <PageFrame
      title={t("title")}
      description={t("description")}
      actions={
        <LinkButton to="/dynamics/new" appearance="primary">
          {t("addOrg")}
        </LinkButton>
      }
    >
      <DynamicsLinks />
      <PagedTable<Org>
        label={t("orgsLabel")}
        rowKey={(org) => org.id}
        empty={t("orgsEmpty")}
        resetOn={[partnerId]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/orgs", {
              params: { path: { partnerId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          { key: "name", header: t("orgName"), cell: (org) => <RouteLink to={`/dynamics/${org.id}`}>{org.name}</RouteLink> },
          { key: "unique", header: t("uniqueName"), cell: (org) => org.uniqueName },
          { key: "access", header: t("access"), cell: (org) => <AccessBadge access={org.access} /> },
          { key: "business", header: t("businessName"), cell: (org) => org.business.name },
          { key: "created", header: t("created"), cell: (org) => format.dateTime(org.createdAt) },
        ]}
      />
    </PageFrame>
  );
}
