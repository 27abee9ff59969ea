"""The FunctionApp Tenantry registers its blueprints on."""

from __future__ import annotations

import azure.functions as func
from azure.functions.decorators.function_app import Function


class TenantryApp(func.FunctionApp):
    """A FunctionApp that indexes once.

    The SDK's get_functions() validates names against state it keeps, so a second call fails
    with "not a unique function name". The host indexes once; the OpenAPI document and the
    fallback route read the same indexed list afterwards.
    """

    def __init__(self) -> None:
        super().__init__(http_auth_level=func.AuthLevel.ANONYMOUS)
        self._indexed: list[Function] | None = None

    def get_functions(self) -> list[Function]:
        if self._indexed is None:
            self._indexed = super().get_functions()
        return self._indexed
