// Filing a data-subject request about a person of one tenant or organisation; the 30 days run from receipt.
import { Checkbox, Field, Input, Radio, RadioGroup, Select, Textarea } from "@fluentui/react-components";
import { useState } from "react";
import { useNavigate } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { dayStart } from "./bits";
import { FormDialog } from "./FormDialog";
import { requestTypes } from "./requests";
import { strings } from "./strings";

type Kind = Schemas["RequestType"];
type Identifier = "email" | "objectId" | "systemUserId" | "phone";
const OTHER = "__other";

/** RequestIn as the API reads it. The generated type carries the schema's one-of rules (tenant or org; changes
 * only with a rectification) as intersections no object literal satisfies, so the call takes this instead. */
type RequestBody = {
  type: Kind;
  subject: Record<Identifier, string | null>;
  tenantId: string | null;
  orgId: string | null;
  changes: Record<string, string> | null;
  lift: boolean;
  reference: string | null;
  receivedAt: string | null;
};
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMAIL = /^[^@\s]+@[^@\s]+$/;

/** Which identifiers name a subject in a scope: end users by object id, org users by system-user id or phone. */
function identifiersFor(scope: "tenant" | "org", kind: Kind): Identifier[] {
  if (kind === "consentWithdrawal") return ["email"];
  return scope === "tenant" ? ["objectId", "email"] : ["systemUserId", "email", "phone"];
}

/** `field = value` per line, as the API's `changes` map. */
function parseChanges(text: string): Record<string, string> | null {
  const changes: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) return null;
    const field = line.slice(0, at).trim();
    if (!field || field.length > 64) return null;
    changes[field] = line.slice(at + 1).trim();
  }
  return Object.keys(changes).length ? changes : null;
}

export function FileRequest() {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  const navigate = useNavigate();
  const [kind, setKind] = useState<Kind>("access");
  const [scope, setScope] = useState<"tenant" | "org">("tenant");
  const [place, setPlace] = useState("");
  const [otherPlace, setOtherPlace] = useState("");
  const [identifier, setIdentifier] = useState<Identifier>("objectId");
  const [value, setValue] = useState("");
  const [changes, setChanges] = useState("");
  const [lift, setLift] = useState(false);
  const [reference, setReference] = useState("");
  const [received, setReceived] = useState("");
  const [opened, setOpened] = useState(0);

  const places = useLoad(async () => {
    if (opened === 0) return { tenants: [], orgs: [], more: false };
    const [tenants, orgs] = await Promise.all([
      call(api.GET("/api/partners/{partnerId}/tenants", { params: { path: { partnerId }, query: { top: 200 } } })),
      call(api.GET("/api/partners/{partnerId}/orgs", { params: { path: { partnerId }, query: { top: 200 } } })),
    ]);
    return {
      tenants: tenants.items.map((x) => ({ id: x.id, name: x.displayName })),
      orgs: orgs.items.map((x) => ({ id: x.id, name: x.name })),
      more: Boolean(tenants.continuationToken || orgs.continuationToken),
    };
  }, [partnerId, opened]);

  const choices = (scope === "tenant" ? places.data?.tenants : places.data?.orgs) ?? [];
  const allowed = identifiersFor(scope, kind);
  const chosenIdentifier: Identifier = allowed.includes(identifier) ? identifier : (allowed[0] ?? "email");
  const placeId = place === OTHER ? otherPlace.trim() : place;
  const parsedChanges = kind === "rectification" ? parseChanges(changes) : null;

  const placeError = !placeId ? t("errorChoosePlace") : !GUID.test(placeId) ? t("errorGuid") : null;
  const valueError = !value.trim()
    ? t("errorRequired")
    : chosenIdentifier === "email" && !EMAIL.test(value.trim())
      ? t("errorEmail")
      : null;
  const changesError = kind === "rectification" && !parsedChanges ? t("errorChanges") : null;
  const valid = !placeError && !valueError && !changesError;

  const start = () => {
    setKind("access");
    setScope("tenant");
    setPlace("");
    setOtherPlace("");
    setIdentifier("objectId");
    setValue("");
    setChanges("");
    setLift(false);
    setReference("");
    setReceived("");
    setOpened((n) => n + 1);
  };

  return (
    <FormDialog
      trigger={t("fileRequest")}
      title={t("fileRequestTitle")}
      intro={t("fileRequestIntro")}
      submitLabel={t("fileRequestSubmit")}
      appearance="primary"
      valid={valid}
      onOpen={start}
      submit={() => {
        const body: RequestBody = {
          type: kind,
          subject: {
            email: chosenIdentifier === "email" ? value.trim() : null,
            objectId: chosenIdentifier === "objectId" ? value.trim() : null,
            systemUserId: chosenIdentifier === "systemUserId" ? value.trim() : null,
            phone: chosenIdentifier === "phone" ? value.trim() : null,
          },
          tenantId: scope === "tenant" ? placeId : null,
          orgId: scope === "org" ? placeId : null,
          changes: kind === "rectification" ? parsedChanges : null,
          lift: kind === "restriction" || kind === "objection" ? lift : false,
          reference: reference.trim() || null,
          receivedAt: dayStart(received),
        };
        return call(api.POST("/api/partners/{partnerId}/privacy/requests", { params: { path: { partnerId } }, body: body as never }));
      }}
      onDone={(request) => void navigate(`/privacy/requests/${request.id}`)}
    >
      {(form) => (
        <>
          <Field label={t("type")} required validationMessage={form.message("type")}>
            <Select value={kind} onChange={(_, data) => setKind(data.value as Kind)}>
              {requestTypes.map((k) => (
                <option key={k} value={k}>
                  {t(`type.${k}`)}
                </option>
              ))}
            </Select>
          </Field>
          <Field label={t("scope")} required>
            <RadioGroup
              layout="horizontal"
              value={scope}
              onChange={(_, data) => {
                setScope(data.value as "tenant" | "org");
                setPlace("");
              }}
            >
              <Radio value="tenant" label={t("scopeTenant")} />
              <Radio value="org" label={t("scopeOrg")} />
            </RadioGroup>
          </Field>
          <Field
            label={scope === "tenant" ? t("tenant") : t("organisation")}
            required
            hint={places.data?.more ? t("placesMore") : undefined}
            validationMessage={form.message(scope === "tenant" ? "tenantId" : "orgId", place === OTHER ? null : placeError)}
          >
            <Select value={place} onChange={(_, data) => setPlace(data.value)} disabled={places.loading}>
              <option value="">{places.loading ? t("loadingPlaces") : t("choose")}</option>
              {choices.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
              <option value={OTHER}>{t("otherPlace")}</option>
            </Select>
          </Field>
          {place === OTHER ? (
            <Field label={t("placeId")} required validationMessage={form.message("placeId", placeError)}>
              <Input value={otherPlace} onChange={(_, data) => setOtherPlace(data.value)} />
            </Field>
          ) : null}
          <Field label={t("identifiedBy")} required>
            <Select value={chosenIdentifier} onChange={(_, data) => setIdentifier(data.value as Identifier)}>
              {allowed.map((i) => (
                <option key={i} value={i}>
                  {t(`identifier.${i}`)}
                </option>
              ))}
            </Select>
          </Field>
          <Field
            label={t(`identifier.${chosenIdentifier}`)}
            required
            validationMessage={form.message(chosenIdentifier, valueError)}
          >
            <Input value={value} onChange={(_, data) => setValue(data.value)} maxLength={320} />
          </Field>
          {kind === "rectification" ? (
            <Field
              label={t("changes")}
              hint={t("changesHint")}
              required
              validationMessage={form.message("changes", changesError)}
            >
              <Textarea value={changes} onChange={(_, data) => setChanges(data.value)} />
            </Field>
          ) : null}
          {kind === "restriction" || kind === "objection" ? (
            <Checkbox checked={lift} onChange={(_, data) => setLift(data.checked === true)} label={t("lift")} />
          ) : null}
          <Field label={t("reference")} hint={t("referenceHint")} validationMessage={form.message("reference")}>
            <Input value={reference} onChange={(_, data) => setReference(data.value)} maxLength={200} />
          </Field>
          <Field label={t("receivedOn")} hint={t("receivedOnHint")} validationMessage={form.message("receivedAt")}>
            <Input type="date" value={received} onChange={(_, data) => setReceived(data.value)} />
          </Field>
        </>
      )}
    </FormDialog>
  );
}
