"""Storage adapters: the catalogue of what we keep, and the per-region router that hands out clients."""
