// One correspondence thread: its messages, oldest first, adding one, and concluding the thread.
import {
  Badge,
  Button,
  Card,
  Field,
  Select,
  Spinner,
  Subtitle2,
  Text,
  Textarea,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { ApiProblem, api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { EmptyState } from "../../components/EmptyState";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { RouteLink } from "../../components/RouteLink";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Facts } from "../privacy/bits";
import { contactText } from "./ContactFields";
import { threadColour } from "./Threads";
import { strings } from "./strings";

type Thread = Schemas["ThreadWithMessages"];
type Direction = Schemas["Direction"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "48rem" },
  messages: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS, listStyle: "none", padding: 0, margin: 0 },
  body: { whiteSpace: "pre-wrap" },
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, alignItems: "stretch" },
  actions: { display: "flex", gap: tokens.spacingHorizontalS },
});

export function ThreadPage() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const { threadId = "" } = useParams();
  const loaded = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/correspondence/{threadId}", { params: { path: { partnerId, threadId } } })),
    [partnerId, threadId],
  );
  const [changed, setChanged] = useState<Thread | null>(null);
  const thread = changed ?? loaded.data;
  return (
    <PageFrame
      title={thread ? thread.topic : t("threadTitle")}
      description={<RouteLink to="/records/correspondence">{t("backToThreads")}</RouteLink>}
    >
      {loaded.error ? <Problem error={loaded.error} /> : null}
      {!thread && loaded.loading ? <Spinner label={t("loading")} /> : null}
      {thread ? (
        <>
          <Facts
            rows={[
              [
                t("threadState"),
                <Badge key="state" appearance="tint" color={threadColour[thread.state]}>
                  {t(`thread.${thread.state}`)}
                </Badge>,
              ],
              [t("contact"), contactText(thread.contact)],
              [t("started"), format.dateTime(thread.createdAt)],
              [t("concludedAt"), thread.concludedAt ? format.dateTime(thread.concludedAt) : null],
              [t("deletedOn"), format.date(thread.deleteAfter)],
            ]}
          />
          {thread.state === "open" ? (
            <ActionButton
              label={t("conclude")}
              confirm={{ title: t("concludeTitle"), body: t("concludeBody") }}
              run={() =>
                call(
                  api.POST("/api/partners/{partnerId}/correspondence/{threadId}/conclude", {
                    params: { path: { partnerId, threadId: thread.id } },
                  }),
                )
              }
              onDone={setChanged}
              done={() => t("concludedNotice")}
            />
          ) : null}
          <section className={styles.section} aria-labelledby="messages">
            <h2 id="messages">
              <Subtitle2>{t("messages")}</Subtitle2>
            </h2>
            {thread.items.length === 0 ? <EmptyState>{t("messagesEmpty")}</EmptyState> : null}
            <ol className={styles.messages}>
              {thread.items.map((message) => (
                <li key={message.id}>
                  <Card>
                    <Text weight="semibold">
                      {t(`direction.${message.direction}`)} · {format.dateTime(message.sentAt)}
                    </Text>
                    <Text className={styles.body}>{message.body}</Text>
                  </Card>
                </li>
              ))}
            </ol>
            {thread.state === "open" ? <AddMessage thread={thread} onAdded={setChanged} /> : <Text>{t("concludedNoMore")}</Text>}
          </section>
        </>
      ) : null}
    </PageFrame>
  );
}

function AddMessage({ thread, onAdded }: { thread: Thread; onAdded: (thread: Thread) => void }) {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const [direction, setDirection] = useState<Direction>("outbound");
  const [body, setBody] = useState("");
  const [tried, setTried] = useState(false);
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const bodyError = body.trim() ? null : t("errorRequired");
  const apiError = error instanceof ApiProblem ? error.errors.find((e) => e.field?.endsWith("body"))?.message : undefined;

  const send = async (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    if (bodyError) return;
    setSending(true);
    setError(null);
    try {
      const next = await call(
        api.POST("/api/partners/{partnerId}/correspondence/{threadId}/messages", {
          params: { path: { partnerId, threadId: thread.id } },
          body: { direction, body: body.trim(), sentAt: null },
        }),
      );
      setBody("");
      setTried(false);
      onAdded(next);
    } catch (failure) {
      setError(failure);
    } finally {
      setSending(false);
    }
  };

  return (
    <form className={styles.form} onSubmit={(event) => void send(event)} noValidate aria-label={t("addMessage")}>
      <Field label={t("messageDirection")}>
        <Select value={direction} onChange={(_, data) => setDirection(data.value as Direction)}>
          <option value="outbound">{t("direction.outbound")}</option>
          <option value="inbound">{t("direction.inbound")}</option>
        </Select>
      </Field>
      <Field label={t("messageBody")} required validationMessage={(tried ? bodyError : null) ?? apiError}>
        <Textarea value={body} onChange={(_, data) => setBody(data.value)} maxLength={16000} rows={4} />
      </Field>
      <div className={styles.actions}>
        <Button type="submit" appearance="primary" disabled={sending} icon={sending ? <Spinner size="tiny" /> : undefined}>
          {t("addMessage")}
        </Button>
      </div>
      {error ? <Problem error={error} /> : null}
    </form>
  );
}
