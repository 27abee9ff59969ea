"""The log hygiene rules, one shape of secret at a time."""

from __future__ import annotations

import logging

import pytest

from shared.privacy import redact

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXBhcnQ"
KEY = "tk_01ABCDEFGHJKMNPQRSTVWXYZ12_01ABCDEFGHJKMNPQRSTVWXYZ12_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        (f"Authorization: Bearer {JWT}", [JWT, "c2lnbmF0dXJlLXBhcnQ"], ["Authorization"]),
        (f"token {JWT} in the middle", ["c2lnbmF0dXJlLXBhcnQ"], ["[jwt]"]),
        (f"x-api-key: {KEY}", ["abcdefghijklmnop"], ["x-api-key"]),
        (f"called with {KEY}.", ["abcdefghijklmnop"], ["tk_[redacted]"]),
        ("AccountName=a;AccountKey=NYLhbNK7XWa0Ro3g+SfF==;BlobEndpoint=x", ["NYLhbNK7"], ["AccountName=a"]),
        ("POST /api/dynamics/o/webhook?code=abc123secret&x=1", ["abc123secret"], ["x=1"]),
        ("GET /c/b?se=2026&sig=abc%2Bdef HTTP/1.1", ["abc%2Bdef"], ["se=2026"]),
        (
            '{"title": "Hello Ana", "body": "Your case", "id": "n1"}',
            ["Hello Ana", "Your case"],
            ['"id": "n1"'],
        ),
        ("from 203.0.113.77:5555", ["203.0.113.77"], ["203.0.113.0"]),
        ("from 2001:db8:85a3:1234::8a2e:370:7334", ["8a2e", "1234"], ["2001:db8:85a3::"]),
        ("user ana.li@contoso.example signed in", ["ana.li"], ["@contoso.example"]),
        (
            "GET /t()?$filter=RowKey%20ge%20%27ana.li%40contoso.example%7C%27&$top=5",
            ["ana.li", "contoso"],
            ["$filter=RowKey%20ge%20'[redacted]'&$top=5"],
        ),
        (  # a point read by a person's id, as the storage SDK and urllib3 log it at DEBUG
            "Request URL: 'http://h/a/tenantusers(PartitionKey='p~t~03',RowKey='d32ca1cd-d6e4-4b71')'",
            ["d32ca1cd"],
            ["tenantusers(PartitionKey='p~t~03',RowKey='[redacted]')"],
        ),
        (
            "\"DELETE /a/k(PartitionKey='p',RowKey='s~t~o''brien') HTTP/1.1\" 204",
            ["brien"],
            ["RowKey='[redacted]') HTTP/1.1\" 204"],
        ),
        ("$filter=PartitionKey eq 'p' and RowKey gt 'd32ca1cd' and x", ["d32ca1cd"], ["PartitionKey eq 'p'"]),
        ("{'x-device-secret': 's3cr3tvalue', 'host': 'h'}", ["s3cr3tvalue"], ["'host': 'h'"]),
    ],
)
def test_redact(text: str, gone: list[str], kept: list[str]) -> None:
    cleaned = redact.redact(text)
    for value in gone:
        assert value not in cleaned
    for value in kept:
        assert value in cleaned


def test_times_versions_and_ids_stay_readable() -> None:
    text = "at 12:00:00 version 1.2.3 partner 01J8ZQ PartitionKey eq 'p-1' in 5.0 ms"
    assert redact.redact(text) == text


def test_known_secrets_go_whatever_their_shape() -> None:
    redact.remember_secrets(["plain-words-operator-key", None, "short"])
    assert "plain-words-operator-key" not in redact.redact("key=x plain-words-operator-key y")


def test_error_codes_and_names_with_code_in_them_stay() -> None:
    text = "fcm send failed: device=dev-1 code=UNREGISTERED; errorCode: 404"
    assert redact.redact(text) == text


@pytest.fixture
def restore_factory():  # type: ignore[no-untyped-def]
    original = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(original)


@pytest.mark.usefixtures("restore_factory")
def test_installed_factory_cleans_arguments_bodies_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    logging.setLogRecordFactory(logging.LogRecord)
    assert not redact.installed()
    redact.install()
    redact.install()  # idempotent
    assert redact.installed()
    logger = logging.getLogger("tests.redact")
    with caplog.at_level(logging.DEBUG, logger="tests.redact"):
        logger.debug("headers=%s body=%s", {"authorization": "Bearer abcdefghijk", "accept": "json"}, b"{}x")
        try:
            raise ValueError(f"bad key {KEY}")
        except ValueError:
            logger.exception("failed for %s", "203.0.113.9")
    text = caplog.text
    assert "abcdefghijk" not in text and "'accept': 'json'" in text and "<3 bytes>" in text
    assert "abcdefghijklmnopqrstuvwxyz" not in text and "ValueError" in text
    assert "203.0.113.0" in text and "203.0.113.9" not in text


def test_a_line_too_long_for_a_log_is_cut_before_it_is_cleaned() -> None:
    line = "Authorization: Bearer ya29.opaque-token " + "a." * 40_000 + " jane@fabrikam.example"
    cleaned = redact.redact(line)
    assert len(cleaned) < redact.MAX_LINE + 100
    assert cleaned.endswith(f"[{len(line) - redact.MAX_LINE} characters cut]")
    assert "ya29" not in cleaned and "jane@" not in cleaned


def test_an_address_with_an_overlong_local_part_still_loses_its_mailbox() -> None:
    cleaned = redact.redact("x" * 100 + "@fabrikam.example")
    assert cleaned.endswith("***@fabrikam.example") and "x" * 65 not in cleaned


def test_loggers_that_write_request_urls_keep_to_warnings() -> None:
    redact.install()
    for name in redact.URL_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
