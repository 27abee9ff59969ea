// The tenant's licence SKUs as its last configuration snapshot lists them, with their free seats.
import { api, ApiProblem, call } from "../../../api/client";
import { useLoad, type Loaded } from "../../../components/useLoad";
import { useSession } from "../../../session";

export type Sku = { skuId: string; name: string; free: number | null };

type RawSku = { skuId?: unknown; skuPartNumber?: unknown; consumedUnits?: unknown; prepaidUnits?: { enabled?: unknown } };

function readSkus(configuration: Record<string, unknown>): Sku[] {
  const raw = Array.isArray(configuration.subscribedSkus) ? (configuration.subscribedSkus as RawSku[]) : [];
  return raw
    .filter((s) => typeof s.skuId === "string")
    .map((s) => {
      const enabled = Number(s.prepaidUnits?.enabled);
      const consumed = Number(s.consumedUnits ?? 0);
      return {
        skuId: String(s.skuId).toLowerCase(),
        name: typeof s.skuPartNumber === "string" ? s.skuPartNumber : String(s.skuId),
        free: Number.isFinite(enabled) ? Math.max(0, enabled - consumed) : null,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The SKUs, or none while the tenant has no snapshot yet (404). */
export function useSkus(tenantId: string): Loaded<Sku[]> {
  const { partnerId } = useSession();
  return useLoad(async () => {
    try {
      const snapshot = await call(
        api.GET("/api/partners/{partnerId}/tenants/{tenantId}/configuration", {
          params: { path: { partnerId, tenantId } },
        }),
      );
      return readSkus(snapshot.configuration);
    } catch (failure) {
      if (failure instanceof ApiProblem && failure.status === 404) return [];
      throw failure;
    }
  }, [partnerId, tenantId]);
}

/** A SKU's part number (SPE_E3) when known, else its id. */
export function skuName(skus: Sku[] | undefined, skuId: string): string {
  return skus?.find((s) => s.skuId === skuId.toLowerCase())?.name ?? skuId;
}
