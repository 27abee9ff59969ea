// Removing a tenant from Tenantry, confirmed by name; then back to the list.
import { Text } from "@fluentui/react-components";
import { useNavigate } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Section } from "./Section";
import { strings } from "./strings";

export function RemoveTenant({ tenant }: { tenant: Schemas["TenantOut"] }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const navigate = useNavigate();
  return (
    <Section title={t("removeTitle")}>
      <Text>{t("removeExplain")}</Text>
      <div>
        <ActionButton
          label={t("remove")}
          confirm={{
            title: t("removeConfirm", { name: tenant.displayName }),
            body: t("removeBody", { name: tenant.displayName, id: tenant.id }),
          }}
          run={() =>
            call(
              api.DELETE("/api/partners/{partnerId}/tenants/{tenantId}", {
                params: { path: { partnerId, tenantId: tenant.id } },
              }),
            )
          }
          onDone={() => navigate("/tenants")}
        />
      </div>
    </Section>
  );
}
