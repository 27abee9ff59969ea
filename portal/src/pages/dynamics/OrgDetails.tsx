// An organisation's details and access, editing them, its keys, and removing it.
import { MessageBar, MessageBarBody, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { CopyField } from "../../components/CopyField";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AccessBadge } from "./AccessBadge";
import { Facts, Section } from "./bits";
import { EditOrg } from "./EditOrg";
import { RotateKeys } from "./RotateKeys";
import { strings } from "./strings";
import type { Org } from "./types";


export function OrgDetails({ org, onChange }: { org: Org; onChange: (org: Org) => void }) {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  // Once removed, the page says so (its "Back to organisations" leads on): leaving at once would unmount the confirmation dialog
  // mid-close, and Fluent then leaves the whole app aria-hidden.
  const [removed, setRemoved] = useState(false);
  const auth =
    org.webhookAuth.type === "HttpHeader"
      ? t("authHeaderLine", { header: org.webhookAuth.headerName ?? "" })
      : t("auth.WebhookKey");
  return (
    <>
      {removed ? (
        <MessageBar intent="success">
          <MessageBarBody>{t("removed", { name: org.name })}</MessageBarBody>
        </MessageBar>
      ) : null}
      {removed ? null : (
        <Section title={t("accessTitle")}>
          <Facts
            rows={[
              [t("access"), <AccessBadge key="a" access={org.access} />],
              [t("since"), format.dateTime(org.access.since)],
              [t("reason"), org.access.reason],
            ]}
          />
          <Text>{org.access.state === "proven" ? t("provenLine") : t("pendingLine")}</Text>
        </Section>
      )}
      {removed ? null : (
        <Section title={t("orgDetails")}>
          <Facts
            rows={[
              [t("uniqueName"), org.uniqueName],
              [t("organizationId"), org.id],
              [t("languageCode"), String(org.languageCode)],
              [t("businessName"), org.business.name],
              [t("businessEmail"), org.business.email],
              [t("businessPhone"), org.business.phone],
              [t("country"), org.business.country],
              [t("address"), org.business.address],
              [t("orgTenant"), org.tenantId],
              [t("webhookAuth"), auth],
              [t("created"), format.dateTime(org.createdAt)],
              [t("updated"), org.updatedAt ? format.dateTime(org.updatedAt) : null],
            ]}
          />
          <CopyField label={t("webhookUrl")} value={org.webhookUrl} hint={t("webhookUrlHint")} />
          <div>
            <EditOrg org={org} onSaved={onChange} />
          </div>
        </Section>
      )}
      {removed ? null : <RotateKeys org={org} />}
      <Section title={t("removeTitle")}>
        <Text>{t("removeExplain")}</Text>
        <div>
          <ActionButton
            label={t("removeOrg")}
            disabled={removed}
            confirm={{ title: t("removeConfirm", { name: org.name }), body: t("removeBody", { name: org.name }) }}
            run={() =>
              call(api.DELETE("/api/partners/{partnerId}/orgs/{orgId}", { params: { path: { partnerId, orgId: org.id } } }))
            }
            onDone={() => setRemoved(true)}
          />
        </div>
      </Section>
    </>
  );
}
