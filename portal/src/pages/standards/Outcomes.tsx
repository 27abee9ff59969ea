// Each tenant's outcome of a standard run: checked, remediated, planned, skipped (and why), what differs.
import { Table, TableBody, TableCell, TableHeader, TableHeaderCell, TableRow } from "@fluentui/react-components";
import { RouteLink } from "../../components/RouteLink";
import { useStrings } from "../../i18n";
import { strings } from "./strings";

export type OutcomeLine = {
  tenantId: string;
  state: string;
  reason?: string | null;
  passed?: number;
  failed?: number;
  failing?: string[];
};

export function Outcomes({ lines, nameOf }: { lines: OutcomeLine[]; nameOf: (id: string) => string }) {
  const t = useStrings(strings);
  return (
    <Table aria-label={t("runResults")} size="small">
      <TableHeader>
        <TableRow>
          <TableHeaderCell>{t("tenant")}</TableHeaderCell>
          <TableHeaderCell>{t("outcome")}</TableHeaderCell>
          <TableHeaderCell>{t("passed")}</TableHeaderCell>
          <TableHeaderCell>{t("failed")}</TableHeaderCell>
          <TableHeaderCell>{t("failing")}</TableHeaderCell>
        </TableRow>
      </TableHeader>
      <TableBody>
        {lines.map((line) => (
          <TableRow key={line.tenantId}>
            <TableCell>
              <RouteLink to={`/tenants/${line.tenantId}`}>{nameOf(line.tenantId)}</RouteLink>
            </TableCell>
            <TableCell>
              {line.state}
              {line.reason ? ` (${line.reason})` : ""}
            </TableCell>
            <TableCell>{line.passed ?? 0}</TableCell>
            <TableCell>{line.failed ?? 0}</TableCell>
            <TableCell>{(line.failing ?? []).join(", ")}</TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}
