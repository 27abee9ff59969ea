// Small pieces the standards pages share: their section links and the caller's tenants by name.
import { makeStyles, tokens } from "@fluentui/react-components";
import { api, call } from "../../api/client";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

const useStyles = makeStyles({
  links: { display: "flex", gap: tokens.spacingHorizontalL, flexWrap: "wrap" },
});

export function StandardsLinks() {
  const t = useStrings(strings);
  const styles = useStyles();
  return (
    <div className={styles.links} role="group" aria-label={t("links")}>
      <RouteLink to="/standards">{t("linkStandards")}</RouteLink>
      <RouteLink to="/standards/assignments">{t("linkAssignments")}</RouteLink>
      <RouteLink to="/standards/compliance">{t("linkCompliance")}</RouteLink>
      <RouteLink to="/standards/baseline">{t("linkBaseline")}</RouteLink>
    </div>
  );
}

/** The caller's tenants (first page), to pick from and to name tenants by. */
export function useTenants() {
  const { partnerId } = useSession();
  const loaded = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/tenants", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const items = loaded.data?.items ?? [];
  const names = new Map(items.map((tenant) => [tenant.id, tenant.displayName]));
  return { items, nameOf: (id: string) => names.get(id) ?? id };
}

/** The standards (not paged by the API), to pick from and to name standards by. */
export function useStandards() {
  const { partnerId } = useSession();
  const loaded = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/standards", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const items = loaded.data?.items ?? [];
  const names = new Map(items.map((standard) => [standard.id, standard.name]));
  return { items, nameOf: (id: string) => names.get(id) ?? id };
}
