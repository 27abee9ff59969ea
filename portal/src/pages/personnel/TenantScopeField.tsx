// Which tenants a person or API key may see: every tenant, or chosen tenants and tenant groups.
import { Button, Checkbox, Field, Radio, RadioGroup, Spinner, Text, makeStyles } from "@fluentui/react-components";
import { useCallback, useEffect, useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { Problem } from "../../components/Problem";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { common } from "../../strings";
import { strings } from "./strings";

export type ScopeValue = { all: boolean; tenantIds: string[]; groups: string[] };
export const EVERY_TENANT: ScopeValue = { all: true, tenantIds: [], groups: [] };

export function scopeFrom(scope: Schemas["TenantScopeOut"] | null | undefined): ScopeValue {
  if (!scope) return EVERY_TENANT;
  return { all: false, tenantIds: scope.tenantIds.map((id) => id.toLowerCase()), groups: [...scope.groups] };
}

/** What the API takes: null for every tenant (sent explicitly, so a change to "every tenant" is one). */
export function scopeBody(value: ScopeValue): Schemas["TenantScopeIn"] | null {
  return value.all ? null : { tenantIds: value.tenantIds, groups: value.groups };
}

export function scopeProblem(value: ScopeValue): "scopeEmpty" | null {
  return !value.all && value.tenantIds.length + value.groups.length === 0 ? "scopeEmpty" : null;
}

const useStyles = makeStyles({
  choices: {
    display: "flex",
    flexDirection: "column",
    maxHeight: "30vh",
    overflowY: "auto",
    border: "none",
    margin: 0,
    padding: 0,
  },
});

type Props = { value: ScopeValue; onChange: (value: ScopeValue) => void; message?: string };

export function TenantScopeField({ value, onChange, message }: Props) {
  const t = useStrings(strings);
  const tc = useStrings(common);
  const styles = useStyles();
  const { partnerId } = useSession();
  const [tenants, setTenants] = useState<Schemas["TenantOut"][]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [groups, setGroups] = useState<string[]>([]);
  const [loading, setLoading] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);

  const readTenants = useCallback(
    async (token: string | undefined) => {
      const page = await call(
        api.GET("/api/partners/{partnerId}/tenants", { params: { path: { partnerId }, query: { continuationToken: token } } }),
      );
      setTenants((before) => (token ? [...before, ...page.items] : page.items));
      setNext(page.continuationToken ?? null);
    },
    [partnerId],
  );

  // The choices are read once the person limits the scope (most keep every tenant).
  useEffect(() => {
    if (value.all || loaded) return;
    let current = true;
    setLoading(true);
    Promise.all([
      readTenants(undefined),
      call(api.GET("/api/partners/{partnerId}/tenant-groups", { params: { path: { partnerId } } })).then(
        (list) => current && setGroups(list.items.map((group) => group.name)),
      ),
    ])
      .catch((error: unknown) => current && setFailure(error))
      .finally(() => {
        if (current) {
          setLoading(false);
          setLoaded(true);
        }
      });
    return () => {
      current = false;
    };
  }, [value.all, loaded, partnerId, readTenants]);

  const toggle = (list: "tenantIds" | "groups", item: string, on: boolean) => {
    const rest = value[list].filter((x) => x !== item);
    onChange({ ...value, [list]: on ? [...rest, item] : rest });
  };
  const known = new Set(tenants.map((tenant) => tenant.id.toLowerCase()));
  const unknown = next ? [] : value.tenantIds.filter((id) => !known.has(id));

  return (
    <>
      <Field label={t("scopeLegend")} validationMessage={message}>
        <RadioGroup
          value={value.all ? "all" : "some"}
          onChange={(_, data) => onChange({ ...value, all: data.value === "all" })}
        >
          <Radio value="all" label={t("scopeAll")} />
          <Radio value="some" label={t("scopeSome")} />
        </RadioGroup>
      </Field>
      {value.all ? null : (
        <>
          {loading ? <Spinner size="tiny" label={tc("loading")} /> : null}
          {failure ? <Problem error={failure} /> : null}
          <fieldset className={styles.choices}>
            <legend>
              <Text weight="semibold">{t("scopeTenants")}</Text>
            </legend>
            {loaded && tenants.length === 0 && unknown.length === 0 ? <Text>{t("scopeNoTenants")}</Text> : null}
            {tenants.map((tenant) => (
              <Checkbox
                key={tenant.id}
                label={tenant.displayName}
                checked={value.tenantIds.includes(tenant.id.toLowerCase())}
                onChange={(_, data) => toggle("tenantIds", tenant.id.toLowerCase(), data.checked === true)}
              />
            ))}
            {unknown.map((id) => (
              <Checkbox
                key={id}
                label={t("unknownTenant", { id })}
                checked
                onChange={(_, data) => toggle("tenantIds", id, data.checked === true)}
              />
            ))}
            {next ? (
              <div>
                <Button size="small" onClick={() => void readTenants(next).catch(setFailure)}>
                  {tc("loadMore")}
                </Button>
              </div>
            ) : null}
          </fieldset>
          <fieldset className={styles.choices}>
            <legend>
              <Text weight="semibold">{t("scopeGroups")}</Text>
            </legend>
            <Text size={200}>{t("scopeGroupsHint")}</Text>
            {loaded && groups.length === 0 ? <Text>{t("scopeNoGroups")}</Text> : null}
            {groups.map((group) => (
              <Checkbox
                key={group}
                label={group}
                checked={value.groups.includes(group)}
                onChange={(_, data) => toggle("groups", group, data.checked === true)}
              />
            ))}
          </fieldset>
        </>
      )}
    </>
  );
}

/** A scope in a few words, for a list. */
export function ScopeSummary({ scope }: { scope: Schemas["TenantScopeOut"] | null | undefined }) {
  const t = useStrings(strings);
  if (!scope) return <>{t("scopeAllShort")}</>;
  return <>{t("scopeSummary", { tenants: scope.tenantIds.length, groups: scope.groups.length })}</>;
}
