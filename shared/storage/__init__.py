"""Storage adapters: the catalogue, the per-region router, and `tables`, the one way to use a table."""
