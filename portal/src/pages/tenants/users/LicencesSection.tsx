// An end user's licences: remove one (confirmed), or assign one of the tenant's SKUs that has a free seat.
import { Field, Select, Text, Title3, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../../api/client";
import { ActionButton } from "../../../components/ActionButton";
import { EmptyState } from "../../../components/EmptyState";
import { Problem } from "../../../components/Problem";
import { useFormat, useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { FormDialog } from "./FormDialog";
import { skuName, useSkus } from "./skus";
import { strings } from "./strings";

type User = Schemas["UserOut"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS },
  list: { margin: 0, paddingLeft: 0, listStyle: "none", display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS },
  item: { display: "flex", gap: tokens.spacingHorizontalM, alignItems: "center", flexWrap: "wrap" },
});

export function LicencesSection({ tenantId, user, onChange }: { tenantId: string; user: User; onChange: (u: User) => void }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const format = useFormat();
  const { partnerId } = useSession();
  const skus = useSkus(tenantId);
  const [skuId, setSkuId] = useState("");
  const name = user.displayName ?? user.userPrincipalName ?? user.id;
  const path = { partnerId, tenantId, userId: user.id };
  const held = new Set((user.assignedLicenses ?? []).map((l) => l.skuId.toLowerCase()));
  const offered = (skus.data ?? []).filter((sku) => !held.has(sku.skuId));

  return (
    <section className={styles.section} aria-labelledby="licences-heading">
      <Title3 as="h3" id="licences-heading">
        {t("licences.title")}
      </Title3>
      {skus.error ? <Problem error={skus.error} /> : null}
      {user.assignedLicenses?.length ? (
        <ul className={styles.list}>
          {user.assignedLicenses.map((licence) => {
            const sku = skuName(skus.data, licence.skuId);
            return (
              <li key={licence.skuId} className={styles.item}>
                <Text>{sku}</Text>
                <ActionButton
                  label={t("licences.remove", { sku })}
                  confirm={{ title: t("licences.remove.confirm", { sku, name }), body: t("licences.remove.body") }}
                  run={() =>
                    call(
                      api.POST("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}/licenses", {
                        params: { path },
                        body: { add: [], remove: [licence.skuId] },
                      }),
                    )
                  }
                  onDone={onChange}
                />
              </li>
            );
          })}
        </ul>
      ) : (
        <EmptyState>{t("licences.none")}</EmptyState>
      )}
      <div>
        <FormDialog<User>
          trigger={t("licences.assign")}
          title={t("licences.assign.title", { name })}
          intro={user.usageLocation ? undefined : <Text>{t("licences.needsLocation")}</Text>}
          submitLabel={t("licences.assign.submit")}
          valid={skuId !== ""}
          onOpen={() => setSkuId("")}
          submit={() =>
            call(
              api.POST("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}/licenses", {
                params: { path },
                body: { add: [{ skuId }], remove: [] },
              }),
            )
          }
          onDone={onChange}
        >
          {(form) => (
            <Field
              label={t("licences.sku")}
              required
              hint={offered.length ? t("licences.sku.hint") : t("licences.noneFree")}
              validationMessage={form.message("skuId", skuId === "" ? t("form.required") : null)}
            >
              <Select value={skuId} onChange={(_, data) => setSkuId(data.value)}>
                <option value="">{t("licences.sku.choose")}</option>
                {offered.map((sku) => (
                  <option key={sku.skuId} value={sku.skuId} disabled={sku.free === 0}>
                    {sku.free == null
                      ? sku.name
                      : t("licences.sku.option", { sku: sku.name, free: format.number(sku.free) })}
                  </option>
                ))}
              </Select>
            </Field>
          )}
        </FormDialog>
      </div>
    </section>
  );
}
