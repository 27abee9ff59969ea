// The partner's data-subject requests, oldest first, with their state and how long is left to answer.
import { Badge, Field, Select, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { FileRequest } from "./FileRequest";
import { PrivacyLinks } from "./PrivacyLinks";
import { RequestDeadline, requestStates, requestTypes, stateColour, subjectText } from "./requests";
import { strings } from "./strings";

type Request = Schemas["RequestOut"];
type State = Schemas["RequestState"];
type Kind = Schemas["RequestType"];

const useStyles = makeStyles({
  filters: { display: "flex", gap: tokens.spacingHorizontalL, flexWrap: "wrap" },
});

export function RequestList() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [state, setState] = useState<State | "">("");
  const [kind, setKind] = useState<Kind | "">("");
  return (
    <PageFrame
      title={t("requestsTitle")}
      description={t("requestsDescription")}
      actions={
        <>
          <PrivacyLinks />
          <FileRequest />
        </>
      }
    >
      <div className={styles.filters}>
        <Field label={t("filterState")}>
          <Select value={state} onChange={(_, data) => setState(data.value as State | "")}>
            <option value="">{t("all")}</option>
            {requestStates.map((s) => (
              <option key={s} value={s}>
                {t(`state.${s}`)}
              </option>
            ))}
          </Select>
        </Field>
        <Field label={t("filterType")}>
          <Select value={kind} onChange={(_, data) => setKind(data.value as Kind | "")}>
            <option value="">{t("all")}</option>
            {requestTypes.map((k) => (
              <option key={k} value={k}>
                {t(`type.${k}`)}
              </option>
            ))}
          </Select>
        </Field>
      </div>
      <PagedTable<Request>
        label={t("requestsTitle")}
        rowKey={(request) => request.id}
        empty={state || kind ? t("requestsEmptyFiltered") : t("requestsEmpty")}
        resetOn={[partnerId, state, kind]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/privacy/requests", {
              params: {
                path: { partnerId },
                query: { continuationToken, state: state || undefined, type: kind || undefined },
              },
            }),
          )
        }
        columns={[
          {
            key: "subject",
            header: t("subject"),
            cell: (request) => (
              <RouteLink to={`/privacy/requests/${request.id}`}>{subjectText(request, t)}</RouteLink>
            ),
          },
          { key: "type", header: t("type"), cell: (request) => t(`type.${request.type}`) },
          {
            key: "state",
            header: t("state"),
            cell: (request) => (
              <Badge appearance="tint" color={stateColour[request.state]}>
                {t(`state.${request.state}`)}
              </Badge>
            ),
          },
          { key: "received", header: t("received"), cell: (request) => format.date(request.receivedAt) },
          { key: "due", header: t("deadline"), cell: (request) => <RequestDeadline request={request} /> },
          { key: "reference", header: t("reference"), cell: (request) => request.reference ?? "—" },
        ]}
      />
    </PageFrame>
  );
}
