// Creating or changing a tenant group: its name (new groups only) and its tenants, picked from the tenant list.
import {
  Button,
  Checkbox,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Field,
  Input,
  Spinner,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiProblem, api, call, type Schemas } from "../../api/client";
import { Problem } from "../../components/Problem";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { common } from "../../strings";
import { strings } from "./strings";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

const useStyles = makeStyles({
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
  tenants: { display: "flex", flexDirection: "column", maxHeight: "40vh", overflowY: "auto", border: "none", margin: 0, padding: 0 },
});

type Props = { name: string | null; open: boolean; onClose: (saved: boolean) => void };

export function TenantGroupDialog({ name, open, onClose }: Props) {
  const t = useStrings(strings);
  const tc = useStrings(common);
  const styles = useStyles();
  const { partnerId } = useSession();
  const [groupName, setGroupName] = useState(name ?? "");
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [tenants, setTenants] = useState<Schemas["TenantOut"][]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [failure, setFailure] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const [submitted, setSubmitted] = useState(false);

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

  useEffect(() => {
    let current = true;
    const start = async () => {
      try {
        if (name) {
          const group = await call(
            api.GET("/api/partners/{partnerId}/tenant-groups/{groupName}", {
              params: { path: { partnerId, groupName: name } },
            }),
          );
          if (current) setChosen(new Set(group.tenantIds.map((id) => id.toLowerCase())));
        }
        await readTenants(undefined);
      } catch (error) {
        if (current) setFailure(error);
      } finally {
        if (current) setLoading(false);
      }
    };
    void start();
    return () => {
      current = false;
    };
  }, [name, partnerId, readTenants]);

  const nameError = submitted && !NAME.test(groupName) ? t("groupNameInvalid") : undefined;
  const apiNameError =
    failure instanceof ApiProblem ? failure.errors.find((e) => e.field?.endsWith("groupName"))?.message : undefined;
  const toggle = (id: string, on: boolean) =>
    setChosen((before) => {
      const after = new Set(before);
      if (on) after.add(id);
      else after.delete(id);
      return after;
    });
  const known = new Set(tenants.map((tenant) => tenant.id.toLowerCase()));
  const unknown = [...chosen].filter((id) => !known.has(id));

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (!NAME.test(groupName)) return;
    setSaving(true);
    setFailure(null);
    try {
      await call(
        api.PUT("/api/partners/{partnerId}/tenant-groups/{groupName}", {
          params: { path: { partnerId, groupName } },
          body: { tenantIds: [...chosen] },
        }),
      );
      onClose(true);
    } catch (error) {
      setFailure(error);
    } finally {
      setSaving(false);
    }
  };

  return (
    <Dialog open={open} onOpenChange={(_, data) => (data.open ? undefined : onClose(false))}>
      <DialogSurface>
        <form onSubmit={(e) => void save(e)} noValidate>
          <DialogBody>
            <DialogTitle>{name ? t("editGroup", { name }) : t("newGroup")}</DialogTitle>
            <DialogContent className={styles.form}>
              {name ? null : (
                <Field label={t("groupName")} hint={t("groupNameHint")} required validationMessage={nameError ?? apiNameError}>
                  <Input value={groupName} onChange={(_, data) => setGroupName(data.value)} maxLength={63} />
                </Field>
              )}
              <fieldset className={styles.tenants}>
                <legend>
                  <Text weight="semibold">{t("pickTenants")}</Text>
                </legend>
                {loading ? <Spinner size="tiny" label={tc("loading")} /> : null}
                {!loading && tenants.length === 0 && unknown.length === 0 ? <Text>{t("noTenantsToPick")}</Text> : null}
                {tenants.map((tenant) => (
                  <Checkbox
                    key={tenant.id}
                    label={tenant.displayName}
                    checked={chosen.has(tenant.id.toLowerCase())}
                    onChange={(_, data) => toggle(tenant.id.toLowerCase(), data.checked === true)}
                  />
                ))}
                {!next
                  ? unknown.map((id) => (
                      <Checkbox
                        key={id}
                        label={t("unknownTenant", { id })}
                        checked
                        onChange={(_, data) => toggle(id, data.checked === true)}
                      />
                    ))
                  : null}
                {next ? (
                  <div>
                    <Button size="small" onClick={() => void readTenants(next).catch(setFailure)}>
                      {tc("loadMore")}
                    </Button>
                  </div>
                ) : null}
              </fieldset>
              {failure ? <Problem error={failure} /> : null}
            </DialogContent>
            <DialogActions>
              <Button
                type="submit"
                appearance="primary"
                disabled={saving || loading}
                icon={saving ? <Spinner size="tiny" /> : undefined}
              >
                {t("save")}
              </Button>
              <Button onClick={() => onClose(false)}>{tc("cancel")}</Button>
            </DialogActions>
          </DialogBody>
        </form>
      </DialogSurface>
    </Dialog>
  );
}
