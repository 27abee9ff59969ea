"""Entity-group transactions sent as one hand-built `$batch` request through the table client's pipeline.

Why: azure-data-tables spends about 0.35 ms of CPU per entity building each sub-request and parsing
each sub-response with the e-mail package's MIME parser, which caps one process near 2,000
entities/s whatever the parallelism (the GIL). The wire format is small and stable (OData
`$batch` with one changeset), so the body is written directly here, and the reply is read only
for its sub-statuses. Authentication, retries and the connection pool stay the SDK's: the request
goes through the same pipeline as every other table call.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from azure.data.tables import TableClient

_STATUS = re.compile(rb"HTTP/1\.1 (\d{3})")


class BatchRefusedError(Exception):
    """A sub-request failed, so the whole transaction was rolled back."""

    def __init__(self, status_code: int, reply: bytes):
        super().__init__(f"batch refused with {status_code}")
        self.status_code = status_code
        self.reply = reply[:2000]


def _key(value: str) -> str:
    # OData string literal inside the URL: quotes doubled, then percent-encoded.
    return quote(value.replace("'", "''"), safe="")


def submit(table: TableClient, operations: list[tuple[Any, ...]]) -> None:
    """One transaction of upserts (MERGE or REPLACE) and deletes, all in one partition."""
    from azure.core.rest import HttpRequest
    from azure.data.tables import UpdateMode

    base = f"{table.scheme}://{table._primary_hostname}"  # the SDK's own endpoint
    batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    parts = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"]
    for index, operation in enumerate(operations):
        kind, entity = operation[0], operation[1]
        options = operation[2] if len(operation) > 2 else {}
        keys = f"PartitionKey='{_key(entity['PartitionKey'])}',RowKey='{_key(entity['RowKey'])}'"
        target = f"{base}/{table.table_name}({keys})"
        if kind == "delete":
            method, body, extra = "DELETE", "", "If-Match: *\r\n"
        elif kind == "upsert":
            method = "PUT" if options.get("mode") == UpdateMode.REPLACE else "MERGE"
            body, extra = json.dumps(entity, separators=(",", ":")), "Content-Type: application/json\r\n"
        else:
            raise ValueError(f"unsupported batch operation {kind!r}")
        parts.append(
            f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"{method} {target} HTTP/1.1\r\n{extra}Accept: application/json;odata=nometadata\r\n"
            "Prefer: return-no-content\r\nDataServiceVersion: 3.0\r\n"
            f"Content-ID: {index + 1}\r\n\r\n{body}\r\n"
        )
    parts.append(f"--{changeset}--\r\n--{batch}--\r\n")
    request = HttpRequest(
        "POST",
        f"{base}/$batch",
        headers={
            "x-ms-version": table.api_version,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": f"multipart/mixed; boundary={batch}",
            "Accept": "application/json",
        },
        content="".join(parts).encode(),
    )
    response = table._client.send_request(request, stream=True)  # the SDK signs and sends it
    reply = response.read()
    if response.status_code != 202:
        raise BatchRefusedError(response.status_code, reply)
    for match in _STATUS.finditer(reply):
        status = int(match.group(1))
        if not 200 <= status < 300:
            raise BatchRefusedError(status, reply)
