"""The Azure Functions entry point: registers every area's blueprint, nothing else."""

from functions import audit, consent, dynamics, logsafe, meta, partners, privacy, tenants
from functions.app import TenantryApp

# Before anything logs: no body, token, secret, API key or full IP address reaches a log line.
logsafe.install()

app = TenantryApp()

app.register_functions(meta.bp)
app.register_functions(partners.bp)
app.register_functions(audit.bp)
app.register_functions(privacy.bp)
app.register_functions(consent.bp)
app.register_functions(tenants.bp)
app.register_functions(dynamics.bp)
