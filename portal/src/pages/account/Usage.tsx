// Billable units in one calendar month (the current one unless another is chosen).
import {
  Field,
  Select,
  Spinner,
  Subtitle2,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useMemo, useState } from "react";
import { api, call } from "../../api/client";
import { EmptyState } from "../../components/EmptyState";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useFormat, useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

/** This month and the eleven before it, as the API names them (YYYY-MM), newest first. */
function recentMonths(now = new Date()): string[] {
  return Array.from({ length: 12 }, (_, back) => {
    const at = new Date(now.getFullYear(), now.getMonth() - back, 1);
    return `${at.getFullYear()}-${String(at.getMonth() + 1).padStart(2, "0")}`;
  });
}

const useStyles = makeStyles({
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "40rem" },
});

export function Usage() {
  const t = useStrings(strings);
  const ts = t as (key: string) => string;
  const format = useFormat();
  const styles = useStyles();
  const { partnerId } = useSession();
  const months = useMemo(() => recentMonths(), []);
  const [month, setMonth] = useState(months[0]);
  const named = new Intl.DateTimeFormat(navigator.language || "en-GB", { month: "long", year: "numeric" });
  const chosen = month;
  const usage = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/usage", { params: { path: { partnerId }, query: { month: chosen } } })),
    [partnerId, chosen],
  );
  const units = Object.entries(usage.data?.units ?? {});
  const unitName = (unit: string) => {
    const key = `unit.${unit}`;
    return key in strings.en ? ts(key) : unit;
  };
  return (
    <section className={styles.section} aria-labelledby="usage">
      <h2 id="usage">
        <Subtitle2>{t("usageTitle")}</Subtitle2>
      </h2>
      <Text>{t("usageIntro")}</Text>
      <Field label={t("month")}>
        <Select value={month} onChange={(_, data) => setMonth(data.value)}>
          {months.map((m) => (
            <option key={m} value={m}>
              {named.format(new Date(`${m}-01T12:00:00`))}
            </option>
          ))}
        </Select>
      </Field>
      {usage.error ? <Problem error={usage.error} /> : null}
      {usage.loading ? <Spinner size="small" label={t("usageTitle")} /> : null}
      {usage.data && !usage.loading ? (
        units.length === 0 ? (
          <EmptyState>{t("usageEmpty", { month: usage.data.month })}</EmptyState>
        ) : (
          <Table aria-label={t("usageLabel", { month: usage.data.month })} size="small">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>{t("unit")}</TableHeaderCell>
                <TableHeaderCell>{t("quantity")}</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {units.map(([unit, count]) => (
                <TableRow key={unit}>
                  <TableCell>{unitName(unit)}</TableCell>
                  <TableCell>{format.number(count)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )
      ) : null}
    </section>
  );
}
