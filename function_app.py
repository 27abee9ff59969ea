"""The Azure Functions entry point: registers every area's blueprint, nothing else."""

from functions import audit, meta, partners
from functions.app import TenantryApp

app = TenantryApp()

app.register_functions(meta.bp)
app.register_functions(partners.bp)
app.register_functions(audit.bp)
