"""Dynamics 365 push notifications: organisations, rules, devices, the Dataverse webhook, fan-out."""
