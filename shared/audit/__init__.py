"""The partner's audit log: append-only, monthly buckets, hash-chained lanes; and IP anonymisation."""
