// One group: what it is, its members (names resolved from the tenant's users), add and remove members.
import { Spinner, Text, Title3, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, ApiProblem, call, type Schemas } from "../../../api/client";
import { ActionButton } from "../../../components/ActionButton";
import { PagedTable } from "../../../components/PagedTable";
import { Problem } from "../../../components/Problem";
import { RouteLink } from "../../../components/RouteLink";
import { useLoad } from "../../../components/useLoad";
import { useFormat, useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { groupKind, isDynamic } from "./groupKind";
import { useParamLink } from "./links";
import { strings } from "./strings";
import { UserPicker } from "./UserPicker";

type Group = Schemas["GroupOut"];
type User = Schemas["UserOut"];
type Member = { id: string; user: User | null };

// The group answers every member id at once; names are read a page at a time, as the list is read.
const MEMBERS_PER_PAGE = 20;

const useStyles = makeStyles({
  root: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS },
  add: { display: "flex", gap: tokens.spacingHorizontalM, alignItems: "center", flexWrap: "wrap" },
});

export function GroupPage({ tenantId, groupId }: { tenantId: string; groupId: string }) {
  const t = useStrings(strings);
  const link = useParamLink();
  const { partnerId } = useSession();
  const loaded = useLoad(
    () =>
      call(
        api.GET("/api/partners/{partnerId}/tenants/{tenantId}/groups/{groupId}", {
          params: { path: { partnerId, tenantId, groupId } },
        }),
      ),
    [partnerId, tenantId, groupId],
  );
  return (
    <div>
      <RouteLink to={link({ group: null })}>{t("group.back")}</RouteLink>
      {loaded.loading && !loaded.data ? <Spinner size="small" label={t("group.loading")} /> : null}
      {loaded.error ? <Problem error={loaded.error} /> : null}
      {loaded.data ? <GroupDetails tenantId={tenantId} group={loaded.data} reload={loaded.reload} /> : null}
    </div>
  );
}

function GroupDetails({ tenantId, group, reload }: { tenantId: string; group: Group; reload: () => void }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const format = useFormat();
  const link = useParamLink();
  const { partnerId } = useSession();
  const [picked, setPicked] = useState<User | null>(null);
  const [pickerKey, setPickerKey] = useState(0);
  const groupName = group.displayName ?? group.id;
  const members = group.members ?? [];
  const dynamic = isDynamic(group);

  const readUser = async (id: string): Promise<Member> => {
    try {
      const user = await call(
        api.GET("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}", {
          params: { path: { partnerId, tenantId, userId: id } },
        }),
      );
      return { id, user };
    } catch (failure) {
      // A member that is not one of the tenant's users (a device, a nested group) keeps its id.
      if (failure instanceof ApiProblem && failure.status === 404) return { id, user: null };
      throw failure;
    }
  };

  return (
    <div className={styles.root}>
      <section className={styles.section} aria-labelledby="group-heading">
        <Title3 as="h2" id="group-heading">
          {groupName}
        </Title3>
        <Text>
          {t(`groupKind.${groupKind(group)}`)}
          {group.mail ? ` · ${group.mail}` : ""}
          {` · ${t("group.memberCount", { count: format.number(members.length) })}`}
        </Text>
        {group.description ? <Text>{group.description}</Text> : null}
      </section>

      <section className={styles.section} aria-labelledby="members-heading">
        <Title3 as="h3" id="members-heading">
          {t("group.members")}
        </Title3>
        {dynamic ? (
          <Text>{t("group.dynamic")}</Text>
        ) : (
          <div className={styles.add}>
            <UserPicker
              key={pickerKey}
              tenantId={tenantId}
              label={t("group.addMember")}
              hint={t("group.addMember.hint")}
              exclude={(id) => members.some((m) => m.toLowerCase() === id.toLowerCase())}
              onChange={setPicked}
            />
            <ActionButton
              label={t("group.add")}
              appearance="primary"
              disabled={!picked}
              run={() =>
                call(
                  api.POST("/api/partners/{partnerId}/tenants/{tenantId}/groups/{groupId}/members", {
                    params: { path: { partnerId, tenantId, groupId: group.id } },
                    body: { userId: (picked as User).id },
                  }),
                )
              }
              done={() => t("group.added", { name: picked?.displayName ?? "", group: groupName })}
              onDone={() => {
                setPicked(null);
                setPickerKey((k) => k + 1);
                reload();
              }}
            />
          </div>
        )}
        <PagedTable<Member>
          label={t("group.members")}
          rowKey={(member) => member.id}
          empty={dynamic ? t("group.emptyDynamic") : t("group.empty")}
          resetOn={[group]}
          load={async (token) => {
            const start = token ? Number(token) : 0;
            const ids = members.slice(start, start + MEMBERS_PER_PAGE);
            const items = await Promise.all(ids.map(readUser));
            const end = start + ids.length;
            return { items, continuationToken: end < members.length ? String(end) : null };
          }}
          columns={[
            {
              key: "name",
              header: t("user.name"),
              cell: (member) =>
                member.user ? (
                  // The tenant's page keeps its tab in `?tab=`: a member opens on the Users tab.
                  <RouteLink to={link({ tab: "users", group: null, user: member.id })}>
                    {member.user.displayName ?? member.user.userPrincipalName ?? member.id}
                  </RouteLink>
                ) : (
                  t("group.notAUser", { id: member.id })
                ),
            },
            { key: "upn", header: t("user.upn"), cell: (member) => member.user?.userPrincipalName ?? "—" },
            {
              key: "remove",
              header: t("group.actions"),
              cell: (member) => {
                const name = member.user?.displayName ?? member.user?.userPrincipalName ?? member.id;
                return dynamic ? (
                  "—"
                ) : (
                  <ActionButton
                    label={t("group.remove", { name })}
                    confirm={{
                      title: t("group.remove.confirm", { name, group: groupName }),
                      body: t("group.remove.body"),
                    }}
                    run={() =>
                      call(
                        api.DELETE("/api/partners/{partnerId}/tenants/{tenantId}/groups/{groupId}/members/{userId}", {
                          params: { path: { partnerId, tenantId, groupId: group.id, userId: member.id } },
                        }),
                      )
                    }
                    onDone={reload}
                  />
                );
              },
            },
          ]}
        />
      </section>
    </div>
  );
}
