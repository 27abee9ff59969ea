// The users and groups tabs, written beside this area (pages/tenants/users/), loaded only when opened.
import { lazy, type ComponentType } from "react";

type TabProps = { tenantId: string };
type UsersModule = { UsersTab: ComponentType<TabProps>; GroupsTab: ComponentType<TabProps> };

// A glob, not an import: the build stays whole while the users folder is still being written.
const modules = import.meta.glob<UsersModule>("./users/index.ts");
const load = modules["./users/index.ts"];

const Nothing: ComponentType<TabProps> = () => null;

export const UsersTab = lazy(async () => ({ default: load ? (await load()).UsersTab : Nothing }));
export const GroupsTab = lazy(async () => ({ default: load ? (await load()).GroupsTab : Nothing }));
