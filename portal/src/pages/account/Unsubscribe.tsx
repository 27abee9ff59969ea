// Ending the subscription at the end of the paid cycle, with the partner's choice for its data.
import { Field, Select, Subtitle2, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { RouteLink } from "../../components/RouteLink";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

type Choice = Schemas["TerminationChoice"];
const CHOICES: Choice[] = ["delete", "return", "anonymise"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "48rem" },
});

export function Unsubscribe({ partner, onEnded }: { partner: Schemas["PartnerOut"]; onEnded: () => void }) {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const [choice, setChoice] = useState<Choice>("delete");
  const sub = partner.subscription;
  const endsAt = sub.terminationEffectiveAt ?? sub.currentPeriodEnd;
  return (
    <section className={styles.section} aria-labelledby="unsubscribe">
      <h2 id="unsubscribe">
        <Subtitle2>{t("unsubscribeTitle")}</Subtitle2>
      </h2>
      {sub.terminationEffectiveAt || sub.state === "terminated" ? (
        <>
          <Text role="status">{t("ending", { at: format.date(endsAt) })}</Text>
          {sub.dataReturnId ? <RouteLink to="/privacy/settings">{t("dataReturns")}</RouteLink> : null}
        </>
      ) : (
        <>
          <Text>{t("unsubscribeIntro", { at: format.date(endsAt) })}</Text>
          <Field label={t("choice")} hint={t("choiceHint")}>
            <Select value={choice} onChange={(_, data) => setChoice(data.value as Choice)}>
              {CHOICES.map((c) => (
                <option key={c} value={c}>
                  {t(`choice.${c}`)}
                </option>
              ))}
            </Select>
          </Field>
          <div>
            <ActionButton
              label={t("unsubscribe")}
              confirm={{
                title: t("unsubscribeConfirmTitle"),
                body: t("unsubscribeConfirmBody", { at: format.date(endsAt), choice: t(`choiceWords.${choice}`) }),
              }}
              run={() =>
                call(
                  api.POST("/api/partners/{partnerId}/subscription/unsubscribe", {
                    params: { path: { partnerId } },
                    body: { choice },
                  }),
                )
              }
              done={(after) =>
                t("unsubscribed", { at: format.date(after.subscription.terminationEffectiveAt ?? endsAt) })
              }
              onDone={onEnded}
            />
          </div>
        </>
      )}
    </section>
  );
}
