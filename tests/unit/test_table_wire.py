"""The hand-built `$batch` and query requests, and how their replies are read, without a storage service.

The table client is the real SDK with its real pipeline (signing, headers, URL handling); only the
socket is replaced by a `requests` adapter that records each request and answers with a reply
recorded from Azurite 3.37.0 (or built the same way). The requests are read back with the standard
library's MIME parser, not with our own code.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import EdmType, TableClient, UpdateMode
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPResponse

from shared.errors import ProblemError
from shared.storage import tablebatch, tablequery, tables
from shared.storage.tablebatch import BatchRefusedError

# Azurite's well-known development key; nothing listens on port 9: every request stops at the adapter.
_CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UWOKEzLqrZeZjF8h7QyK4y+X0jOoZR7B1Bw==;"
    "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)
_BASE = "http://127.0.0.1:9/devstoreaccount1"

Reply = tuple[int, dict[str, str], bytes]


class RecordedService(BaseAdapter):
    """Answers each request with the next reply given, and keeps the requests."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[Reply] = []
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests.append(request)
        status, headers, body = self.replies.pop(0)
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response.raw = HTTPResponse(
            body=io.BytesIO(body), headers=headers, status=status, preload_content=False
        )
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def service() -> RecordedService:
    return RecordedService()


@pytest.fixture
def table(service: RecordedService) -> TableClient:
    session = requests.Session()
    session.mount("http://", service)
    transport = RequestsTransport(session=session, session_owner=False)
    return TableClient.from_connection_string(_CONNECTION, "devices", transport=transport, retry_total=0)


# --- replies, as Azurite sends them ---


def _batch_reply(*parts: tuple[int, str, str]) -> Reply:
    """A 202 `$batch` reply whose change set holds one sub-response per (status, reason, json body)."""
    batch, changeset = "batchresponse_2a76bdaf", "changesetresponse_f3101d9a"
    text = f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
    for status, reason, body in parts:
        text += (
            f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"HTTP/1.1 {status} {reason}\r\nDataServiceVersion: 3.0;\r\n"
            + ("Content-Type: application/json;odata=minimalmetadata;charset=utf-8\r\n" if body else "")
            + f"\r\n{body}\r\n"
        )
    text += f"--{changeset}--\r\n--{batch}--\r\n"
    return 202, {"Content-Type": f"multipart/mixed; boundary={batch}"}, text.encode()


def _error(code: str, index: int, message: str) -> str:
    value = (
        f"{index}:{message}\\nRequestId:cdb81168-3505-497e-bc2d-485750c0de06\\nTime:2026-12-02T04:58:55.743Z"
    )
    return '{"odata.error":{"code":"%s","message":{"lang":"en-US","value":"%s"}}}' % (code, value)  # noqa: UP031


ACCEPTED = _batch_reply((204, "No Content", ""))
EXISTS_AT_1 = _batch_reply(
    (409, "Conflict", _error("EntityAlreadyExists", 1, "The specified entity already exists."))
)
CHANGED_AT_0 = _batch_reply(
    (
        412,
        "Precondition Failed",
        _error(
            "UpdateConditionNotSatisfied",
            0,
            "The update condition specified in the request was not satisfied.",
        ),
    )
)


def _rows(*rows: dict[str, Any], next_keys: tuple[str, str] | None = None) -> Reply:
    headers = {"Content-Type": "application/json;odata=minimalmetadata"}
    if next_keys:
        headers["x-ms-continuation-NextPartitionKey"] = next_keys[0]
        headers["x-ms-continuation-NextRowKey"] = next_keys[1]
    return (
        200,
        headers,
        json.dumps({"odata.metadata": f"{_BASE}/$metadata#devices", "value": list(rows)}).encode(),
    )


# --- requests, read back with the standard library ---


def _operations(request: requests.PreparedRequest) -> list[dict[str, Any]]:
    """The sub-requests of a `$batch` request: method, target, headers, JSON body."""
    body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
    head = f"Content-Type: {_header(request, 'Content-Type')}\r\n\r\n".encode()
    message: Any = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    (changeset,) = message.get_payload()
    operations = []
    for part in changeset.get_payload():
        assert part.get_content_type() == "application/http"
        text = str(part.get_payload())
        head_text, _, payload = text.partition("\r\n\r\n")
        request_line, *header_lines = head_text.split("\r\n")
        method, target, version = request_line.split(" ")
        headers = dict(line.split(": ", 1) for line in header_lines)
        payload = payload.removesuffix("\r\n")
        operations.append(
            {
                "method": method,
                "target": target,
                "version": version,
                "headers": headers,
                "body": json.loads(payload) if payload else None,
            }
        )
    return operations


def _header(request: requests.PreparedRequest, name: str) -> str:
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else value


def _keys(target: str) -> tuple[str, str]:
    """PartitionKey and RowKey of a target like `.../devices(PartitionKey='a',RowKey='b')`, decoded."""
    inside = unquote(target[target.index("(") + 1 : -1])
    pk, rk = inside.split("',RowKey='")
    return pk.removeprefix("PartitionKey='").replace("''", "'"), rk.removesuffix("'").replace("''", "'")


# --- tablebatch: the request it builds ---


def test_a_batch_is_one_signed_post_with_one_sub_request_per_operation(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [ACCEPTED]
    tablebatch.submit(
        table,
        [
            ("create", {"PartitionKey": "org", "RowKey": "a", "n": 1}),
            ("merge", {"PartitionKey": "org", "RowKey": "b", "s": "x"}),
            ("replace", {"PartitionKey": "org", "RowKey": "c"}),
            ("update", {"PartitionKey": "org", "RowKey": "d", "n": 2}, "W/\"datetime'2026-01-01'\""),
            ("delete", {"PartitionKey": "org", "RowKey": "e", "ignored": True}),
        ],
    )
    (request,) = service.requests
    assert request.method == "POST"
    assert request.url == f"{_BASE}/$batch"
    assert _header(request, "Content-Type").startswith("multipart/mixed; boundary=batch_")
    assert _header(request, "Authorization").startswith("SharedKey devstoreaccount1:")
    assert _header(request, "x-ms-version") == table.api_version
    operations = _operations(request)
    assert [(o["method"], o["target"].removeprefix(_BASE)) for o in operations] == [
        ("POST", "/devices"),
        ("MERGE", "/devices(PartitionKey='org',RowKey='b')"),
        ("PUT", "/devices(PartitionKey='org',RowKey='c')"),
        ("MERGE", "/devices(PartitionKey='org',RowKey='d')"),
        ("DELETE", "/devices(PartitionKey='org',RowKey='e')"),
    ]
    assert [o["headers"]["Content-ID"] for o in operations] == ["1", "2", "3", "4", "5"]
    assert [o["body"] for o in operations] == [
        {"PartitionKey": "org", "RowKey": "a", "n": 1},
        {"PartitionKey": "org", "RowKey": "b", "s": "x"},
        {"PartitionKey": "org", "RowKey": "c"},
        {"PartitionKey": "org", "RowKey": "d", "n": 2},
        None,
    ]
    # Only the conditional update names an ETag; a delete removes whatever version is there.
    assert operations[3]["headers"]["If-Match"] == "W/\"datetime'2026-01-01'\""
    assert operations[4]["headers"]["If-Match"] == "*"
    assert all("If-Match" not in o["headers"] for o in operations[:3])
    assert all(o["headers"]["Prefer"] == "return-no-content" for o in operations)


def test_the_sdk_spelling_of_an_upsert_picks_merge_or_replace(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [ACCEPTED]
    tablebatch.submit(
        table,
        [
            ("upsert", {"PartitionKey": "p", "RowKey": "1"}),
            ("upsert", {"PartitionKey": "p", "RowKey": "2"}, {"mode": UpdateMode.MERGE}),
            ("upsert", {"PartitionKey": "p", "RowKey": "3"}, {"mode": UpdateMode.REPLACE}),
        ],
    )
    assert [o["method"] for o in _operations(service.requests[0])] == ["MERGE", "MERGE", "PUT"]


def test_the_sdk_spelling_of_an_update_keeps_its_mode_and_condition(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [ACCEPTED]
    guarded = {"etag": "W/seen", "match_condition": MatchConditions.IfNotModified}
    tablebatch.submit(
        table,
        [
            ("update", {"PartitionKey": "p", "RowKey": "1"}, {"mode": UpdateMode.REPLACE, **guarded}),
            ("update", {"PartitionKey": "p", "RowKey": "2"}, {"mode": UpdateMode.MERGE, **guarded}),
            ("update", {"PartitionKey": "p", "RowKey": "3"}, {"mode": UpdateMode.REPLACE}),
        ],
    )
    operations = _operations(service.requests[0])
    assert [(o["method"], o["headers"]["If-Match"]) for o in operations] == [
        ("PUT", "W/seen"),
        ("MERGE", "W/seen"),
        ("PUT", "*"),
    ]


def test_keys_with_quotes_and_url_characters_reach_the_right_row(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [ACCEPTED]
    awkward = "o'brien & (x)=é+%;,"
    tablebatch.submit(table, [("delete", {"PartitionKey": awkward, "RowKey": "it's"})])
    (operation,) = _operations(service.requests[0])
    assert " " not in operation["target"] and "&" not in operation["target"]
    assert _keys(operation["target"]) == (awkward, "it's")


def test_an_unknown_operation_is_refused_before_anything_is_sent(
    table: TableClient, service: RecordedService
) -> None:
    with pytest.raises(ValueError, match="unsupported batch operation 'insert'"):
        tablebatch.submit(table, [("insert", {"PartitionKey": "p", "RowKey": "r"})])
    assert service.requests == []


# --- tablebatch: the replies it reads ---


def test_an_accepted_batch_returns_quietly(table: TableClient, service: RecordedService) -> None:
    service.replies = [_batch_reply((204, "No Content", ""), (201, "Created", ""))]
    tablebatch.submit(
        table,
        [("merge", {"PartitionKey": "p", "RowKey": "1"}), ("create", {"PartitionKey": "p", "RowKey": "2"})],
    )


def test_a_refused_sub_request_names_its_status_code_and_operation(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [EXISTS_AT_1]
    with pytest.raises(BatchRefusedError) as refused:
        tablebatch.submit(
            table,
            [
                ("create", {"PartitionKey": "p", "RowKey": "a"}),
                ("create", {"PartitionKey": "p", "RowKey": "b"}),
            ],
        )
    assert (refused.value.status_code, refused.value.error_code, refused.value.index) == (
        409,
        "EntityAlreadyExists",
        1,
    )

    service.replies = [CHANGED_AT_0]
    with pytest.raises(BatchRefusedError) as changed:
        tablebatch.submit(table, [("update", {"PartitionKey": "p", "RowKey": "a"}, "W/old")])
    assert (changed.value.status_code, changed.value.error_code, changed.value.index) == (
        412,
        "UpdateConditionNotSatisfied",
        0,
    )


def test_a_refusal_without_an_error_body_still_carries_its_status(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [_batch_reply((404, "Not Found", ""))]
    with pytest.raises(BatchRefusedError) as refused:
        tablebatch.submit(table, [("delete", {"PartitionKey": "p", "RowKey": "gone"})])
    assert (refused.value.status_code, refused.value.error_code, refused.value.index) == (404, "", None)


def test_a_batch_the_service_refuses_whole_is_an_error(table: TableClient, service: RecordedService) -> None:
    service.replies = [
        (400, {"Content-Type": "application/json"}, b'{"odata.error":{"code":"InvalidInput"}}')
    ]
    with pytest.raises(BatchRefusedError) as refused:
        tablebatch.submit(table, [("create", {"PartitionKey": "p", "RowKey": "a"})])
    assert refused.value.status_code == 400


def test_insert_new_leaves_existing_rows_alone_and_says_which(
    table: TableClient, service: RecordedService
) -> None:
    rows = [{"PartitionKey": "p", "RowKey": key} for key in "abc"]
    service.replies = [EXISTS_AT_1, ACCEPTED]
    assert tablebatch.insert_new(table, rows) == {1}
    first, second = (_operations(r) for r in service.requests)
    assert [o["body"]["RowKey"] for o in first] == ["a", "b", "c"]
    assert [o["body"]["RowKey"] for o in second] == ["a", "c"]


# --- tablequery ---


def test_a_query_asks_for_json_with_etags_and_follows_continuations(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [
        _rows(
            {"odata.etag": "W/1", "PartitionKey": "o'k", "RowKey": "1", "n": 5},
            next_keys=("1!8!bw--", "1!4!Mg--"),
        ),
        _rows({"odata.etag": "W/2", "PartitionKey": "o'k", "RowKey": "2", "big": "9007199254740993"}),
    ]
    filter_text = "PartitionKey eq " + tablequery.literal("o'k") + " and RowKey ge '1'"
    rows = list(tablequery.query(table, filter_text, ["RowKey", "n"]))
    assert rows == [
        {"odata.etag": "W/1", "PartitionKey": "o'k", "RowKey": "1", "n": 5},
        {"odata.etag": "W/2", "PartitionKey": "o'k", "RowKey": "2", "big": "9007199254740993"},
    ]
    first, second = service.requests
    assert first.headers["Accept"] == "application/json;odata=minimalmetadata"
    assert urlsplit(str(first.url)).path == "/devstoreaccount1/devices()"
    assert dict(parse_qsl(urlsplit(str(first.url)).query)) == {
        "$filter": "PartitionKey eq 'o''k' and RowKey ge '1'",
        "$top": "1000",
        "$select": "RowKey,n",
    }
    assert dict(parse_qsl(urlsplit(str(second.url)).query)) == {
        "$filter": "PartitionKey eq 'o''k' and RowKey ge '1'",
        "$top": "1000",
        "$select": "RowKey,n",
        "NextPartitionKey": "1!8!bw--",
        "NextRowKey": "1!4!Mg--",
    }


def test_a_query_of_a_missing_table_or_a_failing_service_raises(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [
        (404, {"Content-Type": "application/json"}, b'{"odata.error":{"code":"TableNotFound"}}')
    ]
    with pytest.raises(ResourceNotFoundError):
        list(tablequery.query(table, "PartitionKey eq 'p'"))
    service.replies = [
        (500, {"Content-Type": "application/json"}, b'{"odata.error":{"code":"InternalError"}}')
    ]
    with pytest.raises(HttpResponseError):
        list(tablequery.query(table, "PartitionKey eq 'p'"))


def test_a_point_read_addresses_the_row_by_its_quoted_keys(
    table: TableClient, service: RecordedService
) -> None:
    row = {"odata.etag": "W/7", "PartitionKey": "a'b", "RowKey": "c/d"}
    service.replies = [(200, {"Content-Type": "application/json"}, json.dumps(row).encode())]
    assert tablequery.get(table, "a'b", "c/d") == row
    path = urlsplit(str(service.requests[0].url)).path
    assert _keys(unquote(path)) == ("a'b", "c/d")

    service.replies = [
        (404, {"Content-Type": "application/json"}, b'{"odata.error":{"code":"ResourceNotFound"}}')
    ]
    assert tablequery.get(table, "a", "missing") is None


def test_literals_double_their_quotes() -> None:
    assert tablequery.literal("it's") == "'it''s'"
    assert tables.literal("''") == "''''''"


# --- tables: the toolkit over both ---


def test_rows_from_both_readers_carry_their_etag_beside_the_properties(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [
        _rows({"odata.etag": "W/json", "PartitionKey": "p", "RowKey": "1", "n": 1}),
        _rows(
            {
                "odata.etag": "W/sdk",
                "PartitionKey": "p",
                "RowKey": "1",
                "at@odata.type": "Edm.DateTime",
                "at": "2026-01-02T03:04:05Z",
            }
        ),
    ]
    (plain,) = tables.query_json(table, tables.partition("p"))
    (typed,) = tables.query(table, tables.partition("p"))
    assert isinstance(plain, tables.Row) and isinstance(typed, tables.Row)
    assert (plain.etag, dict(plain)) == ("W/json", {"PartitionKey": "p", "RowKey": "1", "n": 1})
    assert typed.etag == "W/sdk"
    assert dict(typed) == {
        "PartitionKey": "p",
        "RowKey": "1",
        "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }


def test_a_point_read_of_a_missing_row_is_none(table: TableClient, service: RecordedService) -> None:
    missing = (404, {"Content-Type": "application/json"}, b'{"odata.error":{"code":"ResourceNotFound"}}')
    service.replies = [missing, missing]
    assert tables.get(table, "p", "nothing") is None
    assert tables.get_json(table, "p", "nothing") is None


def test_filters_quote_their_values() -> None:
    assert tables.eq("actorId", "o'neil") == "actorId eq 'o''neil'"
    assert tables.partition("p'1") == "PartitionKey eq 'p''1'"
    # The successor of the prefix's last character bounds the range: exactly the keys that start with it.
    assert tables.prefix("RowKey", "sub|") == "RowKey ge 'sub|' and RowKey lt 'sub}'"
    assert tables.prefix("PartitionKey", "it's-") == "PartitionKey ge 'it''s-' and PartitionKey lt 'it''s.'"
    with pytest.raises(ValueError):
        tables.prefix("RowKey", "")


def test_a_page_hands_back_the_tables_continuation_as_an_opaque_token(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [
        _rows({"odata.etag": "W/1", "PartitionKey": "p", "RowKey": "1"}, next_keys=("1!4!cA--", "1!4!Mg--")),
        _rows({"odata.etag": "W/2", "PartitionKey": "p", "RowKey": "2"}),
    ]
    rows, token = tables.page(table, tables.partition("p"), 1, None)
    assert [(r["RowKey"], r.etag) for r in rows] == [("1", "W/1")]
    assert token is not None and "!" not in token
    rows, token = tables.page(table, tables.partition("p"), 1, token)
    assert [r["RowKey"] for r in rows] == ["2"]
    assert token is None
    query = dict(parse_qsl(urlsplit(str(service.requests[1].url)).query))
    assert (query["NextPartitionKey"], query["NextRowKey"], query["$top"]) == ("1!4!cA--", "1!4!Mg--", "1")


@pytest.mark.parametrize("token", ["not base64!", "bnVsbA==", "WzEsMl0=", "eyJhIjogMX0="])
def test_a_token_we_did_not_issue_is_a_bad_request(token: str) -> None:
    with pytest.raises(ProblemError) as problem:
        tables.decode_token(token, scope="p")
    assert problem.value.status == 400


def _batches(service: RecordedService) -> Iterator[list[dict[str, Any]]]:
    for request in service.requests:
        assert request.url == f"{_BASE}/$batch"
        yield _operations(request)


def test_writes_go_in_transactions_of_at_most_100_within_one_partition(
    table: TableClient, service: RecordedService
) -> None:
    operations = [("merge", {"PartitionKey": "a", "RowKey": f"{i:03}"}) for i in range(150)]
    operations += [("merge", {"PartitionKey": "b", "RowKey": f"{i:03}"}) for i in range(30)]
    operations.insert(10, ("delete", {"PartitionKey": "b", "RowKey": "first"}))
    service.replies = [ACCEPTED] * 3
    tables.write(table, operations)
    batches = list(_batches(service))
    assert [len(b) for b in batches] == [100, 50, 31]
    for batch in batches:
        assert len({_keys(o["target"])[0] for o in batch if o["method"] != "POST"}) == 1
    # Order within a partition is kept: the delete written first for "b" goes first.
    assert _keys(batches[2][0]["target"]) == ("b", "first")
    assert [o["body"]["RowKey"] for o in batches[0] + batches[1]] == [f"{i:03}" for i in range(150)]


def test_writes_type_what_json_cannot_say_as_the_sdk_does(
    table: TableClient, service: RecordedService
) -> None:
    service.replies = [ACCEPTED]
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    tables.write(
        table,
        [
            ("merge", {"PartitionKey": "p", "RowKey": "plain", "s": "x", "n": 7, "b": True}),
            ("merge", {"PartitionKey": "p", "RowKey": "typed", "at": moment, "gone": None}),
            ("merge", {"PartitionKey": "p", "RowKey": "wide", "big": (2**40, EdmType.INT64)}),
        ],
    )
    plain, typed, wide = _operations(service.requests[0])
    assert plain["body"] == {"PartitionKey": "p", "RowKey": "plain", "s": "x", "n": 7, "b": True}
    assert typed["body"]["at@odata.type"] == "Edm.DateTime"
    assert typed["body"]["at"].startswith("2026-01-02T03:04:05")
    assert (wide["body"]["big"], wide["body"]["big@odata.type"]) == (str(2**40), "Edm.Int64")
    assert "gone" not in typed["body"]


def test_write_each_falls_back_to_one_by_one_and_says_what_was_applied(
    table: TableClient, service: RecordedService
) -> None:
    operations = [("update", {"PartitionKey": "p", "RowKey": key}, "W/seen") for key in "abc"]
    service.replies = [CHANGED_AT_0, ACCEPTED, CHANGED_AT_0, ACCEPTED]
    assert tables.write_each(table, operations) == [True, False, True]
    assert [len(b) for b in _batches(service)] == [3, 1, 1, 1]

    service.requests.clear()
    service.replies = [EXISTS_AT_1]
    with pytest.raises(BatchRefusedError):  # a status not tolerated ends the write
        tables.write_each(table, operations, tolerate=(412,))


def test_row_of_reads_both_shapes() -> None:
    from azure.data.tables import TableEntity

    entity = TableEntity(PartitionKey="p", RowKey="r", n=1)
    entity._metadata = {"etag": "W/sdk", "timestamp": None}
    assert (dict(tables.Row.of(entity)), tables.Row.of(entity).etag) == (
        {"PartitionKey": "p", "RowKey": "r", "n": 1},
        "W/sdk",
    )
    json_row = {"odata.etag": "W/json", "PartitionKey": "p", "RowKey": "r"}
    assert (dict(tables.Row.of(json_row)), tables.Row.of(json_row).etag) == (
        {"PartitionKey": "p", "RowKey": "r"},
        "W/json",
    )
    assert "odata.etag" in json_row  # the reader's own dict is left as it was
    assert tables.Row({"PartitionKey": "p"}).etag is None
