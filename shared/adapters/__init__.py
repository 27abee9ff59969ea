"""Adapters to the outside services Tenantry talks to (Microsoft Graph, FCM, Entra ID), one module each."""
