// The partner's API keys (never their secrets): create, rotate and delete them.
import { Badge, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { ScopeSummary } from "../personnel/TenantScopeField";
import { CreateKeyDialog } from "./CreateKeyDialog";
import { RotateKeyDialog } from "./RotateKeyDialog";
import { strings } from "./strings";

type ApiKey = Schemas["ApiKeyOut"];

const useStyles = makeStyles({
  secondary: { display: "block", color: tokens.colorNeutralForeground2 },
  actions: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap", alignItems: "center" },
});

function stateOf(key: ApiKey): "active" | "revoked" | "expired" {
  if (key.revokedAt) return "revoked";
  if (key.expiresAt && new Date(key.expiresAt) <= new Date()) return "expired";
  return "active";
}

export function ApiKeyList() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [round, setRound] = useState(0);
  const again = () => setRound((r) => r + 1);

  return (
    <PageFrame title={t("title")} description={t("description")} actions={<CreateKeyDialog onDone={again} />}>
      <PagedTable<ApiKey>
        label={t("tableLabel")}
        rowKey={(key) => key.id}
        empty={t("empty")}
        resetOn={[partnerId, round]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/api-keys", {
              params: { path: { partnerId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          { key: "name", header: t("name"), cell: (key) => <Text weight="semibold">{key.name}</Text> },
          {
            key: "scopes",
            header: t("scopes"),
            cell: (key) => key.scopes.map((scope) => t(`perm.${scope}`)).join(", "),
          },
          { key: "tenants", header: t("scope"), cell: (key) => <ScopeSummary scope={key.tenantScope} /> },
          {
            key: "state",
            header: t("state"),
            cell: (key) => {
              const state = stateOf(key);
              return (
                <Badge appearance="tint" color={state === "active" ? "success" : "informative"}>
                  {t(`state.${state}`)}
                </Badge>
              );
            },
          },
          {
            key: "dates",
            header: t("created"),
            cell: (key) => (
              <>
                <Text>{format.dateTime(key.createdAt)}</Text>
                <Text size={200} className={styles.secondary}>
                  {t("expires")}: {key.expiresAt ? format.date(key.expiresAt) : t("never")}
                </Text>
                {key.rotatedAt ? (
                  <Text size={200} className={styles.secondary}>
                    {t("rotated")}: {format.dateTime(key.rotatedAt)} (
                    {key.previousKeyValidUntil
                      ? t("oldUntil", { until: format.dateTime(key.previousKeyValidUntil) })
                      : t("oldStopped")}
                    )
                  </Text>
                ) : null}
              </>
            ),
          },
          {
            key: "actions",
            header: "",
            cell: (key) =>
              key.revokedAt ? null : (
                <span className={styles.actions}>
                  <RotateKeyDialog apiKey={key} onDone={again} />
                  <ActionButton
                    label={t("delete")}
                    confirm={{ title: t("deleteTitle", { name: key.name }), body: t("deleteBody", { name: key.name }) }}
                    run={() =>
                      call(
                        api.DELETE("/api/partners/{partnerId}/api-keys/{keyId}", {
                          params: { path: { partnerId, keyId: key.id } },
                        }),
                      )
                    }
                    onDone={again}
                  />
                </span>
              ),
          },
        ]}
      />
    </PageFrame>
  );
}
