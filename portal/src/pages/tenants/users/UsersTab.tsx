// The Users tab of a tenant's page: the list, or one user when `?user=<id>` names them.
import { useSearchParams } from "react-router";
import { UserList } from "./UserList";
import { UserPage } from "./UserPage";

export function UsersTab({ tenantId }: { tenantId: string }) {
  const [params] = useSearchParams();
  const userId = params.get("user");
  // The list stays mounted (hidden) while a user is open: "Back to users" finds its search and pages
  // as they were, and a dialog of the list that opened the user closes properly instead of vanishing
  // (Fluent's focus trap would otherwise leave the page hidden from screen readers).
  return (
    <>
      <div hidden={userId !== null}>
        <UserList tenantId={tenantId} />
      </div>
      {userId ? <UserPage key={userId} tenantId={tenantId} userId={userId} /> : null}
    </>
  );
}
