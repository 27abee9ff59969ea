"""Reports kept at sync time and read across the partner's tenants; end-user search."""
