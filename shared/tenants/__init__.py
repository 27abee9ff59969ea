"""Customer Microsoft 365 tenants: onboarding, delta sync, snapshots and drift, management, baselines."""
