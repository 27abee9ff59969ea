// An invoice's PDF, downloaded as the API answers it.
import { api, call, download } from "../../api/client";
import { ActionButton } from "../../components/ActionButton";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { strings } from "./strings";

export function InvoicePdf({ invoiceId, number, label }: { invoiceId: string; number: string; label?: string }) {
  const t = useStrings(strings);
  const { partnerId } = useSession();
  return (
    <ActionButton
      label={label ?? t("downloadPdfOf", { number })}
      run={() =>
        call<Blob>(
          api.GET("/api/partners/{partnerId}/invoices/{invoiceId}/pdf", {
            params: { path: { partnerId, invoiceId } },
            parseAs: "blob",
          }),
        )
      }
      onDone={(blob) => download(blob, `${number}.pdf`)}
      done={() => t("downloaded")}
    />
  );
}
