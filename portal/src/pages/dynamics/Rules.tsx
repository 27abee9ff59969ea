// An organisation's notification rules: which Dataverse event notifies whom, with what title.
import { Badge, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { LinkButton, Section } from "./bits";
import { useRecipientsText } from "./recipients";
import { strings } from "./strings";
import type { Rule } from "./types";


export function Rules({ orgId }: { orgId: string }) {
  const t = useStrings(strings);
  const recipients = useRecipientsText();
  const { partnerId } = useSession();
  const [round, setRound] = useState(0);
  return (
    <Section title={t("rulesTitle")}>
      <Text>{t("rulesExplain")}</Text>
      <div>
        <LinkButton to={`/dynamics/${orgId}/rules/new`} appearance="primary">
          {t("newRule")}
        </LinkButton>
      </div>
      <PagedTable<Rule>
        label={t("rulesLabel")}
        rowKey={(rule) => rule.id}
        empty={t("rulesEmpty")}
        resetOn={[partnerId, orgId, round]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/orgs/{orgId}/rules", {
              params: { path: { partnerId, orgId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          {
            key: "event",
            header: t("event"),
            cell: (rule) => (
              <RouteLink to={`/dynamics/${orgId}/rules/${rule.id}`}>{t("eventLine", { entity: rule.entity, message: rule.message })}</RouteLink>
            ),
          },
          { key: "title", header: t("ruleTitle"), cell: (rule) => rule.title },
          { key: "recipients", header: t("recipients"), cell: (rule) => recipients(rule.recipients) },
          {
            key: "enabled",
            header: t("enabled"),
            cell: (rule) => (
              <Badge appearance="tint" color={rule.enabled ? "success" : "informative"}>
                {rule.enabled ? t("on") : t("off")}
              </Badge>
            ),
          },
          {
            key: "delete",
            header: t("actions"),
            cell: (rule) => (
              <ActionButton
                label={t("deleteRule")}
                confirm={{
                  title: t("deleteRuleConfirm", { entity: rule.entity, message: rule.message }),
                  body: t("deleteRuleBody"),
                }}
                run={() =>
                  call(
                    api.DELETE("/api/partners/{partnerId}/orgs/{orgId}/rules/{ruleId}", {
                      params: { path: { partnerId, orgId, ruleId: rule.id } },
                    }),
                  )
                }
                onDone={() => setRound((r) => r + 1)}
              />
            ),
          },
        ]}
      />
    </Section>
  );
}
