// The tenant's end users as last synced: searched by the API's text filter, filtered by sign-in and licence, paged.
import { Badge, Field, Input, Select, Title3, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { api, call, type Schemas } from "../../../api/client";
import { PagedTable } from "../../../components/PagedTable";
import { RouteLink } from "../../../components/RouteLink";
import { useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { CreateUserDialog } from "./CreateUserDialog";
import { useParamLink } from "./links";
import { skuName, useSkus } from "./skus";
import { strings } from "./strings";
import { TemplateDialog } from "./TemplateDialog";

type User = Schemas["UserOut"];

const useStyles = makeStyles({
  root: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
  bar: { display: "flex", gap: tokens.spacingHorizontalM, flexWrap: "wrap", alignItems: "flex-end" },
  search: { minWidth: "18rem" },
  // Long UPNs wrap inside their column instead of running under the next one.
  wrap: { overflowWrap: "anywhere" },
});

export function UserList({ tenantId }: { tenantId: string }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const link = useParamLink();
  const skus = useSkus(tenantId);
  const [text, setText] = useState("");
  const [search, setSearch] = useState("");
  const [enabled, setEnabled] = useState<"" | "true" | "false">("");
  const [licence, setLicence] = useState("");
  const [round, setRound] = useState(0);

  // The list follows the search box after a pause in typing, not on every key.
  useEffect(() => {
    const timer = window.setTimeout(() => setSearch(text.trim()), 300);
    return () => window.clearTimeout(timer);
  }, [text]);

  const filtered = search !== "" || enabled !== "" || licence !== "";
  return (
    <section className={styles.root} aria-labelledby="users-heading">
      <Title3 as="h2" id="users-heading">
        {t("users.title")}
      </Title3>
      <div className={styles.bar}>
        <CreateUserDialog tenantId={tenantId} onCreated={() => setRound((r) => r + 1)} />
        <TemplateDialog tenantId={tenantId} skus={skus.data ?? []} />
      </div>
      <div className={styles.bar}>
        <Field label={t("users.search")} className={styles.search}>
          <Input type="search" value={text} onChange={(_, data) => setText(data.value)} />
        </Field>
        <Field label={t("users.signIn")}>
          <Select value={enabled} onChange={(_, data) => setEnabled(data.value as "" | "true" | "false")}>
            <option value="">{t("users.signIn.any")}</option>
            <option value="true">{t("users.signIn.enabled")}</option>
            <option value="false">{t("users.signIn.disabled")}</option>
          </Select>
        </Field>
        <Field label={t("users.licence")}>
          <Select value={licence} onChange={(_, data) => setLicence(data.value)}>
            <option value="">{t("users.licence.any")}</option>
            {(skus.data ?? []).map((sku) => (
              <option key={sku.skuId} value={sku.skuId}>
                {sku.name}
              </option>
            ))}
          </Select>
        </Field>
      </div>
      <PagedTable<User>
        label={t("users.title")}
        rowKey={(user) => user.id}
        empty={filtered ? t("users.emptyFiltered") : t("users.empty")}
        resetOn={[partnerId, tenantId, search, enabled, licence, round]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/tenants/{tenantId}/users", {
              params: {
                path: { partnerId, tenantId },
                query: {
                  continuationToken,
                  top: 50,
                  search: search || undefined,
                  enabled: enabled === "" ? undefined : enabled === "true",
                  licence: licence || undefined,
                },
              },
            }),
          )
        }
        columns={[
          {
            key: "name",
            header: t("user.name"),
            cell: (user) => (
              <RouteLink to={link({ user: user.id })}>{user.displayName ?? user.userPrincipalName ?? user.id}</RouteLink>
            ),
          },
          {
            key: "upn",
            header: t("user.upn"),
            cell: (user) => <span className={styles.wrap}>{user.userPrincipalName ?? "—"}</span>,
          },
          {
            key: "signIn",
            header: t("users.signIn"),
            cell: (user) => <SignInBadge enabled={user.accountEnabled} />,
          },
          {
            key: "licences",
            header: t("user.licences"),
            cell: (user) =>
              user.assignedLicenses?.length
                ? user.assignedLicenses.map((l) => skuName(skus.data, l.skuId)).join(", ")
                : t("user.noLicences"),
          },
          { key: "location", header: t("user.usageLocation"), cell: (user) => user.usageLocation ?? "—" },
        ]}
      />
    </section>
  );
}

export function SignInBadge({ enabled }: { enabled: boolean | null | undefined }) {
  const t = useStrings(strings);
  if (enabled == null) return <>—</>;
  return (
    <Badge appearance="tint" color={enabled ? "success" : "danger"}>
      {enabled ? t("users.signIn.enabled") : t("users.signIn.disabled")}
    </Badge>
  );
}
