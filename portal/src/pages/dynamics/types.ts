// The API's shapes as this area reads and sends them (openapi-fetch's view: defaults and one-of unions resolved).
import type { Readable, Writable } from "openapi-typescript-helpers";
import type { Schemas } from "../../api/client";

export type Org = Readable<Schemas["OrgOut"]>;
export type OrgCreated = Readable<Schemas["OrgCreated"]>;
export type WebhookAuthIn = Writable<Schemas["WebhookAuth"]>;
export type OrgPatch = Writable<Schemas["OrgPatch"]>;
export type Rule = Readable<Schemas["RuleOut"]>;
export type RuleIn = Writable<Schemas["RuleIn"]>;
export type Recipients = Readable<Schemas["Recipients"]>;
