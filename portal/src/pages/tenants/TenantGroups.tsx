// Tenant groups: named sets of tenants that scope personnel and API keys; list, create, change, delete.
import { Button } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { LinkButton } from "./LinkButton";
import { TenantGroupDialog } from "./TenantGroupDialog";
import { strings } from "./strings";

type Group = Schemas["TenantGroupOut"];

export default function TenantGroups() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const [round, setRound] = useState(0);
  // Kept mounted once opened, so the dialog closes as Fluent expects (focus back, the page shown again);
  // a new key each time it opens starts it afresh.
  const [editing, setEditing] = useState<{ name: string | null; key: number; open: boolean } | null>(null);
  const edit = (name: string | null) => setEditing((before) => ({ name, key: (before?.key ?? 0) + 1, open: true }));
  const again = () => setRound((r) => r + 1);
  return (
    <PageFrame
      title={t("groupsTitle")}
      description={t("groupsDescription")}
      actions={
        <>
          <Button appearance="primary" onClick={() => edit(null)}>
            {t("newGroup")}
          </Button>
          <LinkButton to="/tenants">{t("back")}</LinkButton>
        </>
      }
    >
      <PagedTable<Group>
        label={t("groupsLabel")}
        rowKey={(group) => group.name}
        empty={t("groupsEmpty")}
        resetOn={[partnerId, round]}
        // The API answers every group of the partner at once (they are few).
        load={async () => ({
          items: (await call(api.GET("/api/partners/{partnerId}/tenant-groups", { params: { path: { partnerId } } })))
            .items,
        })}
        columns={[
          { key: "name", header: t("groupName"), cell: (group) => group.name },
          {
            key: "tenants",
            header: t("members"),
            cell: (group) =>
              group.tenantIds.length === 1
                ? t("membersOne")
                : t("membersCount", { count: format.number(group.tenantIds.length) }),
          },
          {
            key: "actions",
            header: "",
            cell: (group) => (
              <>
                <Button size="small" onClick={() => edit(group.name)} aria-label={t("editGroup", { name: group.name })}>
                  {t("edit")}
                </Button>{" "}
                <ActionButton
                  label={t("deleteGroup")}
                  confirm={{
                    title: t("deleteConfirm", { name: group.name }),
                    body: t("deleteBody", { name: group.name }),
                  }}
                  run={() =>
                    call(
                      api.DELETE("/api/partners/{partnerId}/tenant-groups/{groupName}", {
                        params: { path: { partnerId, groupName: group.name } },
                      }),
                    )
                  }
                  onDone={again}
                />
              </>
            ),
          },
        ]}
      />
      {editing ? (
        <TenantGroupDialog
          key={editing.key}
          open={editing.open}
          name={editing.name}
          onClose={(saved) => {
            setEditing({ ...editing, open: false });
            if (saved) again();
          }}
        />
      ) : null}
    </PageFrame>
  );
}
