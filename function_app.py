"""The Azure Functions entry point: registers every area's blueprint, nothing else."""

from functions import meta
from functions.app import TenantryApp

app = TenantryApp()

app.register_functions(meta.bp)
