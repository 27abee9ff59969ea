// The standards: Tenantry's own and the partner's, each opening to its settings.
import { Badge } from "@fluentui/react-components";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { StandardsLinks } from "./bits";
import { strings } from "./strings";

type Standard = Schemas["StandardOut"];

export function StandardList() {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  return (
    <PageFrame
      title={t("title")}
      description={t("description")}
      actions={
        <>
          <StandardsLinks />
          <RouteLink to="/standards/new">{t("create")}</RouteLink>
        </>
      }
    >
      <PagedTable<Standard>
        label={t("tableLabel")}
        rowKey={(standard) => standard.id}
        empty={t("empty")}
        resetOn={[partnerId]}
        load={() => call(api.GET("/api/partners/{partnerId}/standards", { params: { path: { partnerId } } }))}
        columns={[
          {
            key: "name",
            header: t("name"),
            cell: (standard) => <RouteLink to={`/standards/${standard.id}`}>{standard.name}</RouteLink>,
          },
          {
            key: "kind",
            header: "",
            cell: (standard) => (
              <Badge appearance="tint" color={standard.builtIn ? "informative" : "brand"}>
                {standard.builtIn ? t("builtIn") : t("own")}
              </Badge>
            ),
          },
          { key: "version", header: t("version"), cell: (standard) => standard.version },
          { key: "settings", header: t("settingsCount"), cell: (standard) => standard.settings.length },
          { key: "modes", header: t("modes"), cell: (standard) => standard.modes.map((m) => t(`mode.${m}`)).join(", ") },
        ]}
      />
    </PageFrame>
  );
}
