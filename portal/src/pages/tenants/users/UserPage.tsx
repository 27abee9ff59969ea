// One end user: their details as stored and the management actions the API offers, each confirmed by name.
import { Spinner, Text, Title3, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useState, type ReactNode } from "react";
import { useSearchParams } from "react-router";
import { api, call, type Schemas } from "../../../api/client";
import { ActionButton } from "../../../components/ActionButton";
import { CopyField } from "../../../components/CopyField";
import { Problem } from "../../../components/Problem";
import { RouteLink } from "../../../components/RouteLink";
import { useLoad } from "../../../components/useLoad";
import { useFormat, useStrings } from "../../../i18n";
import { useSession } from "../../../session";
import { EditUserDialog } from "./EditUserDialog";
import { LicencesSection } from "./LicencesSection";
import { useParamLink } from "./links";
import { OffboardDialog } from "./OffboardDialog";
import { OffboardingStatus } from "./OffboardingStatus";
import { SignInBadge } from "./UserList";
import { strings } from "./strings";

type User = Schemas["UserOut"];

const useStyles = makeStyles({
  root: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS },
  actions: { display: "flex", gap: tokens.spacingHorizontalM, flexWrap: "wrap", alignItems: "flex-start" },
  details: {
    display: "grid",
    gridTemplateColumns: "max-content 1fr",
    columnGap: tokens.spacingHorizontalL,
    rowGap: tokens.spacingVerticalXS,
    margin: 0,
  },
  term: { fontWeight: tokens.fontWeightSemibold },
  value: { margin: 0 },
});

export function UserPage({ tenantId, userId }: { tenantId: string; userId: string }) {
  const t = useStrings(strings);
  const link = useParamLink();
  const { partnerId } = useSession();
  const loaded = useLoad(
    () =>
      call(
        api.GET("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}", {
          params: { path: { partnerId, tenantId, userId } },
        }),
      ),
    [partnerId, tenantId, userId],
  );
  const [user, setUser] = useState<User>();
  useEffect(() => setUser(loaded.data), [loaded.data]);

  return (
    <div>
      <RouteLink to={link({ user: null, offboarding: null })}>{t("user.back")}</RouteLink>
      {loaded.loading && !user ? <Spinner size="small" label={t("user.loading")} /> : null}
      {loaded.error ? <Problem error={loaded.error} /> : null}
      {user ? <UserDetails tenantId={tenantId} user={user} onChange={setUser} /> : null}
    </div>
  );
}

function UserDetails({ tenantId, user, onChange }: { tenantId: string; user: User; onChange: (user: User) => void }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const format = useFormat();
  const { partnerId } = useSession();
  const [params, setParams] = useSearchParams();
  const offboardingId = params.get("offboarding");
  const name = user.displayName ?? user.userPrincipalName ?? user.id;
  const path = { partnerId, tenantId, userId: user.id };

  const rows: [string, ReactNode][] = [
    [t("user.upn"), user.userPrincipalName ?? "—"],
    [t("user.mail"), user.mail ?? "—"],
    [t("users.signIn"), <SignInBadge enabled={user.accountEnabled} />],
    [t("user.usageLocation"), user.usageLocation ?? t("user.noUsageLocation")],
    [t("user.jobTitle"), user.jobTitle ?? "—"],
    [t("user.department"), user.department ?? "—"],
    [t("user.userType"), user.userType ?? "—"],
  ];

  return (
    <div className={styles.root}>
      <section className={styles.section} aria-labelledby="user-heading">
        <Title3 as="h2" id="user-heading">
          {name}
        </Title3>
        <dl className={styles.details}>
          {rows.map(([term, value]) => (
            <div key={term} style={{ display: "contents" }}>
              <dt className={styles.term}>{term}</dt>
              <dd className={styles.value}>{value}</dd>
            </div>
          ))}
        </dl>
        <div className={styles.actions}>
          <EditUserDialog tenantId={tenantId} user={user} onSaved={onChange} />
        </div>
      </section>

      <section className={styles.section} aria-labelledby="security-heading">
        <Title3 as="h3" id="security-heading">
          {t("security.title")}
        </Title3>
        <Text>{t("security.description")}</Text>
        <div className={styles.actions}>
          <ActionButton
            label={user.accountEnabled === false ? t("security.enable") : t("security.disable")}
            confirm={
              user.accountEnabled === false
                ? { title: t("security.enable.confirm", { name }), body: t("security.enable.body") }
                : { title: t("security.disable.confirm", { name }), body: t("security.disable.body") }
            }
            run={() =>
              call(
                api.PATCH("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}", {
                  params: { path },
                  body: { accountEnabled: user.accountEnabled === false, displayName: null, usageLocation: null },
                }),
              )
            }
            onDone={onChange}
            done={(changed) =>
              changed.accountEnabled ? t("security.enabled", { name }) : t("security.disabled", { name })
            }
          />
          <ActionButton
            label={t("security.resetPassword")}
            confirm={{ title: t("security.resetPassword.confirm", { name }), body: t("security.resetPassword.body") }}
            run={() =>
              call(
                api.POST("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}/reset-password", {
                  params: { path },
                }),
              )
            }
            done={(reset) => (
              <CopyField
                label={t("security.oneTimePassword", { name })}
                value={reset.temporaryPassword}
                hint={t("security.oneTimePassword.hint")}
              />
            )}
          />
          <ActionButton
            label={t("security.resetMfa")}
            confirm={{ title: t("security.resetMfa.confirm", { name }), body: t("security.resetMfa.body") }}
            run={() =>
              call(
                api.POST("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}/reset-mfa", {
                  params: { path },
                }),
              )
            }
            done={(reset) =>
              reset.removed.length
                ? t("security.resetMfa.done", { count: format.number(reset.removed.length) })
                : t("security.resetMfa.nothing")
            }
          />
          <ActionButton
            label={t("security.revoke")}
            confirm={{ title: t("security.revoke.confirm", { name }), body: t("security.revoke.body") }}
            run={() =>
              call(
                api.POST("/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}/revoke-sessions", {
                  params: { path },
                }),
              )
            }
            done={(revoked) => t("security.revoke.done", { time: format.dateTime(revoked.revokedAt) })}
          />
        </div>
      </section>

      <LicencesSection tenantId={tenantId} user={user} onChange={onChange} />

      <section className={styles.section} aria-labelledby="leaver-heading">
        <Title3 as="h3" id="leaver-heading">
          {t("offboard.title")}
        </Title3>
        <Text>{t("offboard.description")}</Text>
        <div className={styles.actions}>
          <OffboardDialog
            tenantId={tenantId}
            user={user}
            onStarted={(operation) =>
              setParams(
                (before) => {
                  const next = new URLSearchParams(before);
                  next.set("offboarding", operation.id);
                  return next;
                },
                { replace: true },
              )
            }
          />
        </div>
        {offboardingId ? <OffboardingStatus tenantId={tenantId} offboardingId={offboardingId} /> : null}
      </section>
    </div>
  );
}
