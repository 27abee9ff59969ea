// The partner's standard assignments: create, change, delete, run now (then follow the run).
import { makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { useNavigate } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AssignmentDialog } from "./AssignmentDialog";
import { StandardsLinks, useStandards, useTenants } from "./bits";
import { strings } from "./strings";

type Assignment = Schemas["AssignmentOut"];

const useStyles = makeStyles({
  actions: { display: "flex", gap: tokens.spacingHorizontalS, flexWrap: "wrap", alignItems: "center" },
});

export function Assignments() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const navigate = useNavigate();
  const { partnerId } = useSession();
  const tenants = useTenants();
  const standards = useStandards();
  const [round, setRound] = useState(0);
  const again = () => setRound((r) => r + 1);

  return (
    <PageFrame
      title={t("assignmentsTitle")}
      description={t("assignmentsDescription")}
      actions={
        <>
          <StandardsLinks />
          <AssignmentDialog onDone={again} />
        </>
      }
    >
      <PagedTable<Assignment>
        label={t("assignmentsLabel")}
        rowKey={(a) => a.id}
        empty={t("assignmentsEmpty")}
        resetOn={[partnerId, round]}
        load={() =>
          call(api.GET("/api/partners/{partnerId}/standard-assignments", { params: { path: { partnerId } } }))
        }
        columns={[
          {
            key: "standard",
            header: t("standard"),
            cell: (a) => <RouteLink to={`/standards/${a.standardId}`}>{standards.nameOf(a.standardId)}</RouteLink>,
          },
          {
            key: "targets",
            header: t("tenants"),
            cell: (a) => [...a.tenantIds.map(tenants.nameOf), ...a.tenantGroups].join(", "),
          },
          { key: "mode", header: t("mode"), cell: (a) => t(`mode.${a.mode}`) },
          {
            key: "schedule",
            header: t("schedule"),
            cell: (a) => (a.schedule === "daily" ? `${t("schedule.daily")} ${a.hourUtc}:00 UTC` : t("schedule.afterSync")),
          },
          {
            key: "lastRun",
            header: t("lastRun"),
            cell: (a) =>
              a.lastRunId ? (
                <RouteLink to={`/standards/runs/${a.lastRunId}`}>{format.dateTime(a.lastRunAt)}</RouteLink>
              ) : (
                t("never")
              ),
          },
          {
            key: "actions",
            header: "",
            cell: (a) => (
              <span className={styles.actions}>
                <ActionButton
                  label={t("runNow")}
                  run={() =>
                    call(
                      api.POST("/api/partners/{partnerId}/standard-assignments/{assignmentId}/runs", {
                        params: { path: { partnerId, assignmentId: a.id } },
                      }),
                    )
                  }
                  onDone={(run) => navigate(`/standards/runs/${run.id}`)}
                />
                <AssignmentDialog assignment={a} onDone={again} />
                <ActionButton
                  label={t("delete")}
                  confirm={{ title: t("removeTitle", { name: standards.nameOf(a.standardId) }), body: t("removeBody") }}
                  run={() =>
                    call(
                      api.DELETE("/api/partners/{partnerId}/standard-assignments/{assignmentId}", {
                        params: { path: { partnerId, assignmentId: a.id } },
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
