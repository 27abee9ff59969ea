// A tenant's access: its state and why, what to do next, and the proofs the API offers (GDAP check, consent link).
import { Button, Text } from "@fluentui/react-components";
import { useState, type ReactNode } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AccessBadge } from "./AccessBadge";
import { Details } from "./Details";
import { EntraConnectionCard } from "./EntraConnectionCard";
import { Section } from "./Section";
import { SignInLinkField } from "./SignInLinkField";
import { strings } from "./strings";

type Tenant = Schemas["TenantOut"];

type Props = { tenant: Tenant; onChange: (tenant: Tenant) => void; onRefresh: () => void };

export function AccessPanel({ tenant, onChange, onRefresh }: Props) {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const [link, setLink] = useState<Schemas["SignInLink"] | null>(null);
  const access = tenant.access;
  const path = { partnerId, tenantId: tenant.id };
  const facts: [string, ReactNode][] = [
    [t("state"), <AccessBadge state={access.state} />],
    [t("since"), format.dateTime(access.since)],
  ];
  if (access.via) facts.push([t("via"), t(`via.${access.via}`)]);
  if (access.expiresAt) facts.push([t("expires"), format.date(access.expiresAt)]);
  if (access.relationshipId) facts.push([t("relationship"), access.relationshipId]);
  if (access.reason) facts.push([t("reason"), access.reason]);
  const next =
    access.state === "proven" && access.expiresAt
      ? `${t("next.proven")} ${t("next.provenExpiry", { date: format.date(access.expiresAt) })}`
      : t(`next.${access.state}`);
  const proven = access.state === "proven";
  return (
    <Section title={t("accessTitle")}>
      <Details items={facts} />
      <Text>{next}</Text>
      {!proven || access.via === "gdap" ? (
        <Section title={t("proveGdap")} level={3}>
          {!proven ? <EntraConnectionCard level={3} /> : null}
          <div>
            <ActionButton
              label={t("verify")}
              appearance={proven ? undefined : "primary"}
              run={() => call(api.POST("/api/partners/{partnerId}/tenants/{tenantId}/verify", { params: { path } }))}
              onDone={onChange}
              done={(updated) => t("verified", { state: t(`access.${updated.access.state}`) })}
            />
          </div>
        </Section>
      ) : null}
      {!proven ? (
        <Section title={t("proveConsent")} level={3}>
          <Text>{t("consentExplain")}</Text>
          <div>
            <ActionButton
              label={t("consentLink")}
              run={() =>
                call(api.POST("/api/partners/{partnerId}/tenants/{tenantId}/consent-link", { params: { path } }))
              }
              onDone={setLink}
            />
          </div>
          {link ? <SignInLinkField label={t("consentLinkLabel")} link={link} /> : null}
          <div>
            <Button onClick={onRefresh}>{t("refreshAccess")}</Button>
          </div>
        </Section>
      ) : null}
    </Section>
  );
}
