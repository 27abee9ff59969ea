// Upcoming maintenance windows and policy, price or sub-processor changes, as the operator announced them.
import { Subtitle2, Text, makeStyles, tokens } from "@fluentui/react-components";
import { api, call, type Schemas } from "../../api/client";
import { PagedTable } from "../../components/PagedTable";
import { useFormat, useStrings } from "../../i18n";
import { strings } from "./strings";

type Notice = Schemas["NoticeOut"];

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
});

export function Notices() {
  const t = useStrings(strings);
  const format = useFormat();
  const styles = useStyles();
  return (
    <section className={styles.section} aria-labelledby="notices">
      <h2 id="notices">
        <Subtitle2>{t("notices")}</Subtitle2>
      </h2>
      <Text>{t("noticesIntro")}</Text>
      <PagedTable<Notice>
        label={t("noticesLabel")}
        rowKey={(notice) => notice.id}
        empty={t("noticesEmpty")}
        // The API answers every upcoming notice at once (no continuation to follow).
        load={() => call(api.GET("/api/notices", {}))}
        columns={[
          { key: "kind", header: t("kind"), cell: (notice) => t(`kind.${notice.kind}`) },
          {
            key: "title",
            header: t("noticeTitle"),
            cell: (notice) => (
              <>
                <Text weight="semibold">{notice.title}</Text>
                <br />
                <Text>{notice.description}</Text>
              </>
            ),
          },
          { key: "starts", header: t("starts"), cell: (notice) => format.dateTime(notice.startsAt) },
          { key: "ends", header: t("ends"), cell: (notice) => format.dateTime(notice.endsAt) },
          { key: "regions", header: t("regions"), cell: (notice) => notice.regions.map((r) => r.toUpperCase()).join(", ") },
        ]}
      />
    </section>
  );
}
