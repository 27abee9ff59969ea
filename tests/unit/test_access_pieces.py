"""API-key format and hashing, IP anonymisation, tenant scopes."""

import pytest

from shared.access import api_keys
from shared.access.principals import Scope, TenantScope
from shared.access.tokens import TokenValidator
from shared.audit.ip import anonymise_ip, client_address

PARTNER, KEY = "01M88V66J4VP2QB77MXNCH6HS8", "01M88V66W52CQRHYMVBKPXNNRM"


def test_key_round_trip_and_hash_check() -> None:
    key = api_keys.make_key(PARTNER, KEY)
    parsed = api_keys.parse_key(key)
    assert parsed is not None and (parsed.partner_id, parsed.key_id) == (PARTNER, KEY)
    stored = api_keys.hash_key(key, "pepper")
    assert key not in stored
    assert api_keys.key_matches(key, stored, "pepper")
    assert not api_keys.key_matches(key[:-1] + ("A" if key[-1] != "A" else "B"), stored, "pepper")
    assert not api_keys.key_matches(key, stored, "other pepper")


@pytest.mark.parametrize("text", ["", "tk_short", f"tk_{PARTNER}_{KEY}_tooshort", "local-operator-key"])
def test_malformed_keys_do_not_parse(text: str) -> None:
    assert api_keys.parse_key(text) is None


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("203.0.113.77:51234", "203.0.113.0"),
        ("2001:db8:abcd:1234:5678::1", "2001:db8:abcd::"),
        ("[2001:db8:abcd:1234::1]:443", "2001:db8:abcd::"),
        ("not an ip", None),
        (None, None),
    ],
)
def test_ip_addresses_are_anonymised(given: str | None, stored: str | None) -> None:
    assert anonymise_ip(given) == stored


def test_tenant_scope_by_id_or_group() -> None:
    scope = TenantScope(frozenset({"aaaa"}), frozenset({"emea"}))
    groups = {"emea": frozenset({"bbbb"}), "apac": frozenset({"cccc"})}
    assert scope.allows("AAAA", groups)
    assert scope.allows("bbbb", groups)
    assert not scope.allows("cccc", groups)


def test_a_tenants_tokens_come_from_its_v2_or_v1_issuer() -> None:
    validator = TokenValidator(
        "http://unused/keys",
        "api://tenantry",
        "",
        authority_host="https://login.microsoftonline.com/",
        v1_issuer_host="https://sts.windows.net",
    )
    assert validator.audiences == {"api://tenantry"}
    assert validator.issuers("6F1C2B7E-0A4D-4C8E-9D3B-2A1F5E7C9B10") == (
        "https://login.microsoftonline.com/6f1c2b7e-0a4d-4c8e-9d3b-2a1f5e7c9b10/v2.0",
        "https://sts.windows.net/6f1c2b7e-0a4d-4c8e-9d3b-2a1f5e7c9b10/",
    )
    with pytest.raises(ValueError, match="audience"):
        TokenValidator("http://unused/keys", "", "")


def test_routes_take_the_operator_only_when_they_say_so_and_the_document_follows() -> None:
    import azure.functions as func

    from functions.auth import OPERATOR_SECURITY, PARTNER_SECURITY, operator_only, partner_access
    from functions.http import endpoint

    assert partner_access(Scope.READ).security == PARTNER_SECURITY
    assert partner_access(Scope.READ, operator=True).security == PARTNER_SECURITY + OPERATOR_SECURITY
    assert operator_only.security == OPERATOR_SECURITY
    # The document takes security from the authenticator only: one that declares none is refused.
    bp = func.Blueprint()  # type: ignore[no-untyped-call]
    with pytest.raises(TypeError, match="declares no security"):
        endpoint(bp, "x", methods=["GET"], summary="x", tag="x", auth=lambda call: None)


@pytest.mark.parametrize(
    ("forwarded_for", "trusted_proxies", "client"),
    [
        ("198.51.100.9", 0, "198.51.100.9"),
        # The client wrote the first entry; the front end appended the address it saw.
        ("192.0.2.1, 198.51.100.9", 0, "198.51.100.9"),
        # Behind Front Door: it appended the client, the front end appended Front Door.
        ("192.0.2.1, 198.51.100.9, 147.243.0.10", 1, "198.51.100.9"),
        # Fewer entries than trusted hops: the leftmost is the best there is.
        ("198.51.100.9", 2, "198.51.100.9"),
        (" , 198.51.100.9 ,", 0, "198.51.100.9"),
        ("", 0, None),
        (None, 0, None),
    ],
)
def test_the_client_address_is_counted_from_the_right(
    forwarded_for: str | None, trusted_proxies: int, client: str | None
) -> None:
    assert client_address(forwarded_for, trusted_proxies=trusted_proxies) == client
