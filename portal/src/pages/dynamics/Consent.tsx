// The consent behind the notifications' mailing list: who subscribed, every grant and withdrawal, and the outbox.
import { Field, Input, Text } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Long, Narrow, Section } from "./bits";
import { DynamicsLinks } from "./DynamicsLinks";
import { strings } from "./strings";

function Contacts() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  return (
    <Section title={t("contactsTitle")}>
      <Text>{t("contactsExplain")}</Text>
      <PagedTable<Schemas["PrivacyContactOut"]>
        label={t("contactsTitle")}
        rowKey={(c) => `${c.email}/${c.purpose}`}
        empty={t("contactsEmpty")}
        resetOn={[partnerId]}
        load={(continuationToken) =>
          call(
            api.GET("/api/partners/{partnerId}/consent/contacts", {
              params: { path: { partnerId }, query: { continuationToken } },
            }),
          )
        }
        columns={[
          { key: "email", header: t("email"), cell: (c) => <Long>{c.email}</Long> },
          { key: "name", header: t("fullName"), cell: (c) => c.name ?? "—" },
          { key: "purpose", header: t("purpose"), cell: (c) => c.purpose },
          { key: "state", header: t("state"), cell: (c) => t(`consent.${c.state}`) },
          { key: "requested", header: t("requestedAt"), cell: (c) => format.dateTime(c.requestedAt) },
          { key: "granted", header: t("grantedAt"), cell: (c) => format.dateTime(c.grantedAt) },
        ]}
      />
    </Section>
  );
}

function Ledger() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const [email, setEmail] = useState("");
  const [search, setSearch] = useState("");
  const searchValid = search === "" || (search.length >= 3 && search.length <= 254);
  return (
    <Section title={t("ledgerTitle")}>
      <Text>{t("ledgerExplain")}</Text>
      <Narrow>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setSearch(email.trim());
          }}
        >
          <Field label={t("ledgerEmail")} hint={t("ledgerEmailHint")} validationMessage={searchValid ? undefined : t("badLedgerEmail")}>
            <Input type="search" value={email} onChange={(_, d) => setEmail(d.value)} maxLength={254} />
          </Field>
        </form>
      </Narrow>
      <PagedTable<Schemas["LedgerEntry"]>
        label={t("ledgerTitle")}
        rowKey={(e) => `${e.consentId}/${e.action}/${e.at}`}
        empty={search ? t("ledgerNone") : t("ledgerEmpty")}
        resetOn={[partnerId, search]}
        load={(continuationToken) =>
          searchValid
            ? call(
                api.GET("/api/partners/{partnerId}/consent/ledger", {
                  params: { path: { partnerId }, query: { continuationToken, email: search || undefined } },
                }),
              )
            : Promise.resolve({ items: [], continuationToken: null })
        }
        columns={[
          { key: "at", header: t("at"), cell: (e) => format.dateTime(e.at) },
          { key: "action", header: t("consentAction"), cell: (e) => t(`consent.${e.action}`) },
          { key: "purpose", header: t("purpose"), cell: (e) => e.purpose },
          { key: "method", header: t("method"), cell: (e) => e.method },
          { key: "subject", header: t("subjectKey"), cell: (e) => <Long>{e.subjectKey.slice(0, 20)}…</Long> },
          { key: "purge", header: t("purgeAt"), cell: (e) => format.date(e.purgeAt) },
        ]}
      />
    </Section>
  );
}

function Outbox() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  const [round, setRound] = useState(0);
  return (
    <Section title={t("outboxTitle")}>
      <Text>{t("outboxExplain")}</Text>
      <PagedTable<Schemas["OutboxItem"]>
        label={t("outboxTitle")}
        rowKey={(item) => item.id}
        empty={t("outboxEmpty")}
        resetOn={[partnerId, round]}
        // The outbox has no continuation token: it answers up to `top` messages, and a removed one makes room.
        load={() => call(api.GET("/api/partners/{partnerId}/consent/outbox", { params: { path: { partnerId } } }))}
        columns={[
          { key: "at", header: t("createdAt"), cell: (item) => format.dateTime(item.createdAt) },
          { key: "kind", header: t("outboxKind"), cell: (item) => t(`outbox.${item.kind}`) },
          { key: "email", header: t("email"), cell: (item) => <Long>{item.email}</Long> },
          { key: "name", header: t("fullName"), cell: (item) => item.name ?? "—" },
          { key: "purpose", header: t("purpose"), cell: (item) => item.purpose },
          { key: "expires", header: t("confirmExpires"), cell: (item) => format.dateTime(item.confirmExpiresAt) },
          {
            key: "remove",
            header: t("actions"),
            cell: (item) => (
              <ActionButton
                label={t("outboxRemove")}
                confirm={{ title: t("outboxRemoveConfirm", { email: item.email }), body: t("outboxRemoveBody") }}
                run={() =>
                  call(
                    api.DELETE("/api/partners/{partnerId}/consent/outbox/{itemId}", {
                      params: { path: { partnerId, itemId: item.id } },
                    }),
                  )
                }
                onDone={() => setRound((r) => r + 1)}
              />
            ),
          },
        ]}
      />
    </Section>
  );
}

export default function Consent() {
  const t = useStrings(strings);
  return (
    <PageFrame title={t("consentTitle")} description={t("consentDescription")}>
      <DynamicsLinks />
      <Contacts />
      <Outbox />
      <Ledger />
    </PageFrame>
  );
}
