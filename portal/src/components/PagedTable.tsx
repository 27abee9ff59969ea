// A long list read page by page through the API's continuation tokens: never everything at once.
import {
  Button,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
} from "@fluentui/react-components";
import { useCallback, useEffect, useState, type ReactNode } from "react";
import { useStrings } from "../i18n";
import { common } from "../strings";
import { EmptyState } from "./EmptyState";
import { Problem } from "./Problem";

export type Page<T> = { items: T[]; continuationToken?: string | null };
export type Column<T> = { key: string; header: string; cell: (item: T) => ReactNode };

type Props<T> = {
  /** Names the table for screen readers. */
  label: string;
  columns: Column<T>[];
  /** Reads one page; `continuationToken` is undefined for the first. */
  load: (continuationToken: string | undefined) => Promise<Page<T>>;
  rowKey: (item: T) => string;
  /** What to show when there is nothing: say what to do next. */
  empty: ReactNode;
  /** Anything that should start the list again from its first page (a search term, a filter). */
  resetOn?: unknown[];
};

export function PagedTable<T>({ label, columns, load, rowKey, empty, resetOn = [] }: Props<T>) {
  const t = useStrings(common);
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [started, setStarted] = useState(false);

  const read = useCallback(
    async (token: string | undefined, replace: boolean) => {
      setLoading(true);
      setError(null);
      try {
        const page = await load(token);
        setItems((before) => (replace ? page.items : [...before, ...page.items]));
        setNext(page.continuationToken ?? null);
      } catch (failure) {
        setError(failure);
      } finally {
        setLoading(false);
        setStarted(true);
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    resetOn,
  );

  useEffect(() => {
    void read(undefined, true);
  }, [read]);

  if (started && !loading && !error && items.length === 0) return <EmptyState>{empty}</EmptyState>;
  return (
    <div>
      {items.length > 0 ? (
        <Table aria-label={label} size="small">
          <TableHeader>
            <TableRow>
              {columns.map((column) => (
                <TableHeaderCell key={column.key}>{column.header}</TableHeaderCell>
              ))}
            </TableRow>
          </TableHeader>
          <TableBody>
            {items.map((item) => (
              <TableRow key={rowKey(item)}>
                {columns.map((column) => (
                  <TableCell key={column.key}>{column.cell(item)}</TableCell>
                ))}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      ) : null}
      {error ? <Problem error={error} /> : null}
      {loading ? <Spinner size="small" label={t("loading")} /> : null}
      {!loading && error ? (
        <Button onClick={() => void read(next ?? undefined, items.length === 0)}>{t("retry")}</Button>
      ) : null}
      {!loading && !error && next ? <Button onClick={() => void read(next, false)}>{t("loadMore")}</Button> : null}
    </div>
  );
}
