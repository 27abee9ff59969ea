// A tenant's end users and Microsoft 365 groups, as tabs of the tenant's page (P1 mounts them).
// No routes of their own: a user or a group opens through the search parameter `?user=<id>` / `?group=<id>`
// on the tenant's page, so these tabs work under whatever path the tenant's page has.
export { GroupsTab } from "./GroupsTab";
export { UsersTab } from "./UsersTab";
