// The Groups tab of a tenant's page: the list, or one group when `?group=<id>` names it.
import { useSearchParams } from "react-router";
import { GroupList } from "./GroupList";
import { GroupPage } from "./GroupPage";

export function GroupsTab({ tenantId }: { tenantId: string }) {
  const [params] = useSearchParams();
  const groupId = params.get("group");
  // The list stays mounted (hidden) while a group is open, so "Back to groups" finds its pages as they were.
  return (
    <>
      <div hidden={groupId !== null}>
        <GroupList tenantId={tenantId} />
      </div>
      {groupId ? <GroupPage key={groupId} tenantId={tenantId} groupId={groupId} /> : null}
    </>
  );
}
