// The latest configuration snapshot in words: organisation, licences, domains, role holders, conditional access.
import { Text } from "@fluentui/react-components";
import type { Schemas } from "../../api/client";
import { useFormat, useStrings } from "../../i18n";
import { Details } from "./Details";
import { Section } from "./Section";
import { SimpleTable } from "./SimpleTable";
import { strings } from "./strings";

// The snapshot as Graph reported it (camelCase); every section may be missing when Graph refused it.
type Configuration = {
  organization?: { displayName?: string | null; countryLetterCode?: string | null } | null;
  subscribedSkus?: { skuId: string; skuPartNumber?: string | null; consumedUnits?: number; prepaidUnits?: { enabled?: number } }[];
  domains?: { id: string; isDefault?: boolean; isVerified?: boolean }[];
  roleAssignments?: { id: string; principalId: string; roleName?: string | null; roleTemplateId?: string | null }[];
  conditionalAccessPolicies?: { id: string; displayName?: string | null; state?: string | null }[];
  securityDefaults?: { isEnabled?: boolean } | null;
  unavailable?: Record<string, string>;
};

export function ConfigurationView({ snapshot }: { snapshot: Schemas["ConfigurationOut"] }) {
  const t = useStrings(strings);
  const format = useFormat();
  const config = snapshot.configuration as Configuration;
  const skus = config.subscribedSkus ?? [];
  const domains = config.domains ?? [];
  const policies = config.conditionalAccessPolicies ?? [];
  const holders = new Map<string, number>();
  for (const assignment of config.roleAssignments ?? []) {
    const role = assignment.roleName ?? assignment.roleTemplateId ?? "?";
    holders.set(role, (holders.get(role) ?? 0) + 1);
  }
  const unavailable = Object.keys(config.unavailable ?? {});
  const yesNo = (value: boolean | undefined) => (value ? t("yes") : t("no"));
  const sd = config.securityDefaults?.isEnabled;
  return (
    <>
      <Text>{t("configTaken", { at: format.dateTime(snapshot.takenAt) })}</Text>
      <Details
        items={[
          [t("organization"), config.organization?.displayName ?? "—"],
          [t("country"), config.organization?.countryLetterCode ?? "—"],
          [t("sdTitle"), sd === undefined ? "—" : sd ? t("on") : t("off")],
        ]}
      />
      {unavailable.length > 0 ? <Text>{t("unavailable", { list: unavailable.join(", ") })}</Text> : null}
      <Section title={t("licences")} level={3}>
        {skus.length === 0 ? (
          <Text>{t("noneListed")}</Text>
        ) : (
          <SimpleTable
            label={t("licencesLabel")}
            headers={[t("sku"), t("used"), t("available")]}
            rows={skus.map((sku) => [
              sku.skuId,
              sku.skuPartNumber ?? sku.skuId,
              format.number(sku.consumedUnits ?? 0),
              format.number(sku.prepaidUnits?.enabled ?? 0),
            ])}
          />
        )}
      </Section>
      <Section title={t("domains")} level={3}>
        {domains.length === 0 ? (
          <Text>{t("noneListed")}</Text>
        ) : (
          <SimpleTable
            label={t("domainsLabel")}
            headers={[t("domain"), t("defaultDomain"), t("verifiedDomain")]}
            rows={domains.map((d) => [d.id, d.id, yesNo(d.isDefault), yesNo(d.isVerified)])}
          />
        )}
      </Section>
      <Section title={t("roles")} level={3}>
        {holders.size === 0 ? (
          <Text>{t("noneListed")}</Text>
        ) : (
          <SimpleTable
            label={t("rolesLabel")}
            headers={[t("role"), t("holders")]}
            rows={[...holders.entries()].map(([role, count]) => [role, role, format.number(count)])}
          />
        )}
      </Section>
      <Section title={t("policies")} level={3}>
        {policies.length === 0 ? (
          <Text>{t("noneListed")}</Text>
        ) : (
          <SimpleTable
            label={t("policiesLabel")}
            headers={[t("policy"), t("policyState")]}
            rows={policies.map((p) => [p.id, p.displayName ?? p.id, p.state ?? "—"])}
          />
        )}
      </Section>
    </>
  );
}
