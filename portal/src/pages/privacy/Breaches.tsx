// Personal-data breaches that affect the partner, with the 72 hours the controller has to notify its authority.
import { Text } from "@fluentui/react-components";
import { api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { PagedTable } from "../../components/PagedTable";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { Deadline, hoursLeft, useNow } from "./bits";
import { PrivacyLinks } from "./PrivacyLinks";
import { strings } from "./strings";

type Breach = Schemas["PartnerBreachOut"];

function NotifyClock({ breach }: { breach: Breach }) {
  const t = useStrings(strings);
  const now = useNow(30_000);
  const left = hoursLeft(breach.notifyBy, now);
  if (left.past) return <Deadline text={t("notifyPassed", { hours: left.hours, minutes: left.minutes })} late />;
  return (
    <Deadline text={t("notifyLeft", { hours: left.hours, minutes: left.minutes })} late={false} soon={left.hours < 24} />
  );
}

export function Breaches() {
  const t = useStrings(strings);
  const format = useFormat();
  const { partnerId } = useSession();
  return (
    <PageFrame title={t("breachesTitle")} description={t("breachesDescription")} actions={<PrivacyLinks />}>
      <PagedTable<Breach>
        label={t("breachesTitle")}
        rowKey={(breach) => breach.id}
        empty={t("breachesEmpty")}
        resetOn={[partnerId]}
        load={() =>
          call(api.GET("/api/partners/{partnerId}/privacy/breaches", { params: { path: { partnerId } } }))
        }
        columns={[
          {
            key: "nature",
            header: t("breachNature"),
            cell: (breach) => (
              <>
                <Text weight="semibold">{breach.nature}</Text>
                <br />
                <Text size={200}>{breach.dataCategories.join(", ")}</Text>
              </>
            ),
          },
          { key: "aware", header: t("breachAware"), cell: (breach) => format.dateTime(breach.confirmedAt) },
          {
            key: "notify",
            header: t("breachNotifyBy"),
            cell: (breach) => (
              <>
                {format.dateTime(breach.notifyBy)}
                <br />
                <NotifyClock breach={breach} />
              </>
            ),
          },
          {
            key: "scale",
            header: t("breachScale"),
            cell: (breach) =>
              t("breachScaleText", {
                subjects: format.number(breach.approxSubjects),
                records: format.number(breach.approxRecords),
              }),
          },
          { key: "consequences", header: t("breachConsequences"), cell: (breach) => breach.likelyConsequences },
          { key: "measures", header: t("breachMeasures"), cell: (breach) => breach.measures },
          {
            key: "contact",
            header: t("breachContact"),
            cell: (breach) => (
              <>
                {Object.values(breach.contactPoint)
                  .filter(Boolean)
                  .map((line) => (
                    <div key={String(line)} style={{ overflowWrap: "anywhere" }}>
                      {String(line)}
                    </div>
                  ))}
              </>
            ),
          },
        ]}
      />
    </PageFrame>
  );
}
