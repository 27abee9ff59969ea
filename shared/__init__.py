"""Tenantry's product core: domain models, services and adapters (never imports azure.functions)."""
