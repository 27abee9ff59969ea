// An organisation's system users (as the partner syncs them from Dataverse), paged, and adding or updating one.
import { Field, Input, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { PagedTable } from "../../components/PagedTable";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { GUID, Long, Section } from "./bits";
import { FormDialog } from "./FormDialog";
import { strings } from "./strings";

type User = Schemas["SystemUserOut"];
const blank = { systemUserId: "", fullName: "", email: "", domainName: "", objectId: "" };

function AddUser({ orgId, onDone }: { orgId: string; onDone: () => void }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [user, setUser] = useState(blank);
  const set = (change: Partial<typeof blank>) => setUser((b) => ({ ...b, ...change }));
  const idError = GUID.test(user.systemUserId.trim()) ? undefined : t("notGuid");
  const objectError = user.objectId.trim() && !GUID.test(user.objectId.trim()) ? t("notGuid") : undefined;
  const optional = (value: string) => (value.trim() ? value.trim() : null);
  return (
    <FormDialog
      trigger={t("addUser")}
      title={t("addUserTitle")}
      intro={<Text>{t("addUserIntro")}</Text>}
      submitLabel={t("saveUser")}
      valid={!idError && !objectError}
      onOpen={() => setUser(blank)}
      submit={() =>
        call(
          api.PUT("/api/partners/{partnerId}/orgs/{orgId}/users", {
            params: { path: { partnerId, orgId } },
            body: {
              items: [
                {
                  systemUserId: user.systemUserId.trim().toLowerCase(),
                  fullName: optional(user.fullName),
                  email: optional(user.email),
                  domainName: optional(user.domainName),
                  azureActiveDirectoryObjectId: optional(user.objectId)?.toLowerCase() ?? null,
                  windowsLiveId: null,
                  mobilePhone: null,
                },
              ],
            },
          }),
        )
      }
      onDone={onDone}
    >
      {(message) => (
        <>
          <Field label={t("systemUserId")} hint={t("systemUserIdHint")} required validationMessage={message("systemUserId", idError)}>
            <Input value={user.systemUserId} onChange={(_, d) => set({ systemUserId: d.value })} spellCheck={false} />
          </Field>
          <Field label={t("fullName")} validationMessage={message("fullName")}>
            <Input value={user.fullName} onChange={(_, d) => set({ fullName: d.value })} maxLength={256} />
          </Field>
          <Field label={t("email")} validationMessage={message("email")}>
            <Input type="email" value={user.email} onChange={(_, d) => set({ email: d.value })} maxLength={256} />
          </Field>
          <Field label={t("domainName")} validationMessage={message("domainName")}>
            <Input value={user.domainName} onChange={(_, d) => set({ domainName: d.value })} maxLength={256} />
          </Field>
          <Field
            label={t("objectId")}
            hint={t("objectIdHint")}
            validationMessage={message("azureActiveDirectoryObjectId", objectError)}
          >
            <Input value={user.objectId} onChange={(_, d) => set({ objectId: d.value })} spellCheck={false} />
          </Field>
        </>
      )}
    </FormDialog>
  );
}

export function OrgUsers({ orgId }: { orgId: string }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const [round, setRound] = useState(0);
  return (
    <Section title={t("usersTitle")}>
      <Text>{t("usersExplain")}</Text>
      <div>
        <AddUser orgId={orgId} onDone={() => setRound((r) => r + 1)} />
      </div>
      <PagedTable<User>
        label={t("usersLabel")}
        rowKey={(user) => user.systemUserId}
        empty={t("usersEmpty")}
        resetOn={[partnerId, orgId, round]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/orgs/{orgId}/users", {
              params: { path: { partnerId, orgId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          { key: "name", header: t("fullName"), cell: (u) => u.fullName ?? "—" },
          { key: "email", header: t("email"), cell: (u) => <Long>{u.email ?? u.domainName ?? "—"}</Long> },
          { key: "id", header: t("systemUserId"), cell: (u) => <Long>{u.systemUserId}</Long> },
          { key: "oid", header: t("objectId"), cell: (u) => <Long>{u.azureActiveDirectoryObjectId ?? t("noObjectId")}</Long> },
        ]}
      />
      <Text>{t("devicesWhere")}</Text>
    </Section>
  );
}
