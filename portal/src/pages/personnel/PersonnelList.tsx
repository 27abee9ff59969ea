// The partner's personnel: who they are, their role and tenants; invite, change and remove them.
import { Badge, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Section } from "../audit/Section";
import { ChangePersonDialog } from "./ChangePersonDialog";
import { InviteDialog } from "./InviteDialog";
import { RoleList } from "./roles";
import { personnelPatch } from "./patch";
import { strings } from "./strings";
import { ScopeSummary } from "./TenantScopeField";

type Person = Schemas["PersonnelOut"];

const useStyles = makeStyles({
  secondary: { display: "block", color: tokens.colorNeutralForeground2 },
  actions: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap", alignItems: "center" },
});

export function PersonnelList() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId, membership } = useSession();
  const [round, setRound] = useState(0);
  const again = () => setRound((r) => r + 1);
  const nameOf = (person: Person) => person.displayName ?? person.email;
  const isMe = (person: Person) => person.id === membership?.personnelId;

  return (
    <PageFrame title={t("title")} description={t("description")} actions={<InviteDialog onDone={again} />}>
      <PagedTable<Person>
        label={t("tableLabel")}
        rowKey={(person) => person.id}
        empty={t("empty")}
        resetOn={[partnerId, round]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/personnel", {
              params: { path: { partnerId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          {
            key: "name",
            header: t("name"),
            cell: (person) => (
              <>
                <Text weight="semibold">
                  {nameOf(person)} {isMe(person) ? t("you") : null}
                </Text>
                <Text size={200} className={styles.secondary}>
                  {person.email}
                </Text>
              </>
            ),
          },
          { key: "role", header: t("role"), cell: (person) => t(`role.${person.role}`) },
          { key: "scope", header: t("scope"), cell: (person) => <ScopeSummary scope={person.tenantScope} /> },
          {
            key: "status",
            header: t("status"),
            cell: (person) => (
              <Badge appearance="tint" color={person.status === "active" ? "success" : "informative"}>
                {t(`status.${person.status}`)}
              </Badge>
            ),
          },
          { key: "since", header: t("since"), cell: (person) => format.date(person.createdAt) },
          {
            key: "actions",
            header: "",
            cell: (person) =>
              isMe(person) ? null : (
                <span className={styles.actions}>
                  {person.status === "active" ? (
                    <>
                      <ChangePersonDialog person={person} name={nameOf(person)} onDone={again} />
                      <ActionButton
                        label={t("remove")}
                        confirm={{
                          title: t("removeTitle", { name: nameOf(person) }),
                          body: t("removeBody", { name: nameOf(person) }),
                        }}
                        run={() =>
                          call(
                            api.DELETE("/api/partners/{partnerId}/personnel/{personnelId}", {
                              params: { path: { partnerId, personnelId: person.id } },
                            }),
                          )
                        }
                        onDone={again}
                      />
                    </>
                  ) : (
                    <ActionButton
                      label={t("reactivate")}
                      confirm={{
                        title: t("reactivateTitle", { name: nameOf(person) }),
                        body: t("reactivateBody", { name: nameOf(person) }),
                      }}
                      run={() =>
                        call(
                          api.PATCH("/api/partners/{partnerId}/personnel/{personnelId}", {
                            params: { path: { partnerId, personnelId: person.id } },
                            body: personnelPatch({ status: "active" }),
                          }),
                        )
                      }
                      onDone={again}
                    />
                  )}
                </span>
              ),
          },
        ]}
      />
      <Section title={t("rolesTitle")}>
        <RoleList />
      </Section>
    </PageFrame>
  );
}
