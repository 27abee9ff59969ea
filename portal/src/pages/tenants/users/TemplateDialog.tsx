// The tenant's new-user template: the licences, groups and usage location a user created here gets.
import {
  Button,
  Checkbox,
  Combobox,
  Field,
  Input,
  Option,
  Spinner,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { api, ApiProblem, call, type Schemas } from "../../../api/client";
import { Problem } from "../../../components/Problem";
import { useFormat, useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { COUNTRY } from "./EditUserDialog";
import { FormDialog } from "./FormDialog";
import type { Sku } from "./skus";
import { strings } from "./strings";

type Template = Schemas["UserTemplateOut"];
type Group = Schemas["GroupOut"];
type LicenceAdd = Schemas["LicenceAdd"];

const useStyles = makeStyles({
  fieldset: { border: "none", margin: 0, padding: 0, display: "flex", flexDirection: "column" },
  legend: { fontWeight: tokens.fontWeightSemibold, marginBottom: tokens.spacingVerticalXS },
  chosen: { margin: 0, paddingLeft: 0, listStyle: "none", display: "flex", flexDirection: "column" },
  chosenItem: { display: "flex", alignItems: "center", gap: tokens.spacingHorizontalS },
});

export function TemplateDialog({ tenantId, skus }: { tenantId: string; skus: Sku[] }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const format = useFormat();
  const { partnerId } = useSession();
  const [opened, setOpened] = useState(0);
  const [loading, setLoading] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [updatedAt, setUpdatedAt] = useState<string | null>(null);
  const [licences, setLicences] = useState<LicenceAdd[]>([]);
  const [groups, setGroups] = useState<string[]>([]);
  const [usageLocation, setUsageLocation] = useState("");
  const [known, setKnown] = useState<Group[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [filter, setFilter] = useState("");

  const readGroups = async (continuationToken: string | undefined) => {
    const page = await call(
      api.GET("/api/partners/{partnerId}/tenants/{tenantId}/groups", {
        params: { path: { partnerId, tenantId }, query: { continuationToken, top: 100 } },
      }),
    );
    setKnown((before) => [...before, ...page.items.filter((g) => !before.some((b) => b.id === g.id))]);
    setNext(page.continuationToken ?? null);
  };

  useEffect(() => {
    if (opened === 0) return;
    let live = true;
    setLoading(true);
    setLoadError(null);
    setKnown([]);
    const load = async () => {
      let template: Template | null = null;
      try {
        template = await call(
          api.GET("/api/partners/{partnerId}/tenants/{tenantId}/user-template", {
            params: { path: { partnerId, tenantId } },
          }),
        );
      } catch (failure) {
        // No template yet: the editor starts empty.
        if (!(failure instanceof ApiProblem && failure.status === 404)) throw failure;
      }
      if (!live) return;
      setLicences(template?.licences ?? []);
      setGroups(template?.groups ?? []);
      setUsageLocation(template?.usageLocation ?? "");
      setUpdatedAt(template?.updatedAt ?? null);
      await readGroups(undefined);
    };
    load()
      .catch((failure: unknown) => live && setLoadError(failure))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [opened]);

  const locationProblem =
    usageLocation !== "" && !COUNTRY.test(usageLocation)
      ? t("form.country")
      : licences.length > 0 && usageLocation === ""
        ? t("template.needsLocation")
        : null;
  const nameOf = (id: string) => known.find((g) => g.id.toLowerCase() === id.toLowerCase())?.displayName ?? id;
  const offered = known.filter(
    (g) =>
      !groups.some((id) => id.toLowerCase() === g.id.toLowerCase()) &&
      (filter === "" || (g.displayName ?? "").toLowerCase().includes(filter.toLowerCase())),
  );
  const toggleSku = (skuId: string, on: boolean) =>
    setLicences((before) => (on ? [...before, { skuId }] : before.filter((l) => l.skuId.toLowerCase() !== skuId)));

  return (
    <FormDialog<Template>
      trigger={t("template.trigger")}
      title={t("template.title")}
      intro={
        <Text>
          {updatedAt ? t("template.intro.updated", { time: format.dateTime(updatedAt) }) : t("template.intro.new")}
        </Text>
      }
      submitLabel={t("template.save")}
      valid={!locationProblem && !loading && !loadError}
      onOpen={() => {
        // Loading from the first frame: fields that appeared and vanished again would take the
        // dialog's first focus with them, and Fluent's focus trap would then hide the dialog itself.
        setLoading(true);
        setFilter("");
        setOpened((n) => n + 1);
      }}
      submit={() =>
        call(
          api.PUT("/api/partners/{partnerId}/tenants/{tenantId}/user-template", {
            params: { path: { partnerId, tenantId } },
            body: { licences, groups, usageLocation: usageLocation || null },
          }),
        )
      }
    >
      {(form) =>
        loading ? (
          <Spinner size="small" label={t("template.loading")} />
        ) : loadError ? (
          <Problem error={loadError} />
        ) : (
          <>
            <fieldset className={styles.fieldset}>
              <legend className={styles.legend}>{t("template.licences")}</legend>
              {skus.length === 0 ? <Text>{t("template.noSkus")}</Text> : null}
              {skus.map((sku) => (
                <Checkbox
                  key={sku.skuId}
                  checked={licences.some((l) => l.skuId.toLowerCase() === sku.skuId)}
                  onChange={(_, data) => toggleSku(sku.skuId, data.checked === true)}
                  label={
                    sku.free == null
                      ? sku.name
                      : t("licences.sku.option", { sku: sku.name, free: format.number(sku.free) })
                  }
                />
              ))}
            </fieldset>
            <Field
              label={t("user.usageLocation")}
              hint={t("form.country.hint")}
              validationMessage={form.message("usageLocation", locationProblem)}
            >
              <Input
                value={usageLocation}
                maxLength={2}
                onChange={(_, data) => setUsageLocation(data.value.toUpperCase())}
              />
            </Field>
            <fieldset className={styles.fieldset}>
              <legend className={styles.legend}>{t("template.groups")}</legend>
              {groups.length === 0 ? <Text>{t("template.noGroups")}</Text> : null}
              <ul className={styles.chosen}>
                {groups.map((id, position) => (
                  <li key={id} className={styles.chosenItem}>
                    <Text>{nameOf(id)}</Text>
                    <Button
                      size="small"
                      appearance="subtle"
                      onClick={() => setGroups((before) => before.filter((g) => g !== id))}
                    >
                      {t("template.removeGroup", { group: nameOf(id) })}
                    </Button>
                    <GroupError message={form.message(`groups[${position}]`) ?? form.message(`groups.${position}`)} />
                  </li>
                ))}
              </ul>
              <Field label={t("template.addGroup")}>
                <Combobox
                  freeform
                  value={filter}
                  placeholder={t("template.addGroup.placeholder")}
                  onInput={(event) => setFilter((event.target as HTMLInputElement).value)}
                  onOptionSelect={(_, data) => {
                    if (data.optionValue) setGroups((before) => [...before, data.optionValue as string]);
                    setFilter("");
                  }}
                >
                  {offered.map((group) => (
                    <Option key={group.id} value={group.id}>
                      {group.displayName ?? group.id}
                    </Option>
                  ))}
                </Combobox>
              </Field>
              {next ? (
                <div>
                  <Button size="small" onClick={() => void readGroups(next).catch(setLoadError)}>
                    {t("template.moreGroups")}
                  </Button>
                </div>
              ) : null}
            </fieldset>
          </>
        )
      }
    </FormDialog>
  );
}

function GroupError({ message }: { message: string | undefined }) {
  return message ? (
    <Text role="alert" style={{ color: tokens.colorPaletteRedForeground1 }}>
      {message}
    </Text>
  ) : null;
}
