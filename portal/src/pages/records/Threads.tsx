// Correspondence threads with contact persons, oldest first, with when each is deleted.
import { Badge, Field, Select } from "@fluentui/react-components";
import { useState } from "react";
import { useNavigate } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { RecordsLinks } from "./RecordsLinks";
import { StartThread } from "./StartThread";
import { strings } from "./strings";

type Thread = Schemas["ThreadOut"];
type State = Schemas["ThreadState"];

export const threadColour = { open: "brand", concluded: "subtle" } as const;

export function Threads() {
  const t = useStrings(strings);
  const format = useFormat();
  const navigate = useNavigate();
  const { partnerId } = useSession();
  const [state, setState] = useState<State | "">("");
  return (
    <PageFrame
      title={t("threadsTitle")}
      description={t("threadsDescription")}
      actions={
        <>
          <RecordsLinks />
          <StartThread onDone={(thread) => void navigate(`/records/correspondence/${thread.id}`)} />
        </>
      }
    >
      <Field label={t("threadState")}>
        <Select value={state} onChange={(_, data) => setState(data.value as State | "")}>
          <option value="">{t("all")}</option>
          <option value="open">{t("thread.open")}</option>
          <option value="concluded">{t("thread.concluded")}</option>
        </Select>
      </Field>
      <PagedTable<Thread>
        label={t("threadsTitle")}
        rowKey={(thread) => thread.id}
        empty={state ? t("threadsEmptyFiltered") : t("threadsEmpty")}
        resetOn={[partnerId, state]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/correspondence", {
              params: { path: { partnerId }, query: { continuationToken, state: state || undefined } },
            }),
          )
        }
        columns={[
          {
            key: "topic",
            header: t("topic"),
            cell: (thread) => <RouteLink to={`/records/correspondence/${thread.id}`}>{thread.topic}</RouteLink>,
          },
          { key: "contact", header: t("contact"), cell: (thread) => String(thread.contact.name ?? "—") },
          { key: "messages", header: t("messages"), cell: (thread) => format.number(thread.messages) },
          { key: "last", header: t("lastActivity"), cell: (thread) => format.dateTime(thread.lastActivityAt) },
          {
            key: "state",
            header: t("threadState"),
            cell: (thread) => (
              <Badge appearance="tint" color={threadColour[thread.state]}>
                {t(`thread.${thread.state}`)}
              </Badge>
            ),
          },
          { key: "delete", header: t("deletedOn"), cell: (thread) => format.date(thread.deleteAfter) },
        ]}
      />
    </PageFrame>
  );
}
