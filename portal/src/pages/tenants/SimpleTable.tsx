// A short table of what one answer holds whole (no paging: the API answers it in one piece).
import { Table, TableBody, TableCell, TableHeader, TableHeaderCell, TableRow } from "@fluentui/react-components";
import type { ReactNode } from "react";

export function SimpleTable({ label, headers, rows }: { label: string; headers: string[]; rows: [string, ...ReactNode[]][] }) {
  return (
    <Table aria-label={label} size="small">
      <TableHeader>
        <TableRow>
          {headers.map((header) => (
            <TableHeaderCell key={header}>{header}</TableHeaderCell>
          ))}
        </TableRow>
      </TableHeader>
      <TableBody>
        {rows.map(([key, ...cells]) => (
          <TableRow key={key}>
            {cells.map((cell, i) => (
              <TableCell key={i}>{cell}</TableCell>
            ))}
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}
