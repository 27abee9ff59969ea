"""The log redactor over generated header lines, query strings and JSON bodies carrying our secrets.

Example-based tests show the shapes we thought of; these generate the surroundings (header names
and case, auth schemes, separators, neighbouring parameters, JSON nesting) and assert that the
secret itself never survives. The examples are bounded so the suite stays fast.
"""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.privacy.redact import redact

EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_URLSAFE = string.ascii_letters + string.digits + "-_"
_TOKEN68 = _URLSAFE + ".~+/"


def _text(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


# Every shape of secret Tenantry holds or passes through, with a marker no surrounding text has.
SECRETS = st.one_of(
    # Google OAuth access tokens (firebase-admin's), and any other opaque bearer token.
    st.builds(lambda t: f"ya29.{t}", _text(_TOKEN68, 20, 80)),
    _text(_TOKEN68, 16, 80).map(lambda t: f"opq{t}"),
    # JWTs: Entra access and ID tokens.
    st.tuples(_text(_URLSAFE, 10, 40), _text(_URLSAFE, 10, 60), _text(_URLSAFE, 20, 60)).map(
        lambda p: f"eyJ{p[0]}.{p[1]}.{p[2]}"
    ),
    # Partner API keys, webhook keys, device secrets (URL-safe base64 secrets of 32 bytes).
    st.tuples(_text("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26, 26), _text(_URLSAFE, 43, 43)).map(
        lambda p: f"tk_{p[0]}_{p[0]}_{p[1]}"
    ),
    _text(_URLSAFE, 43, 43).map(lambda t: f"whk_{t}"),
    _text(_URLSAFE, 32, 43).map(lambda t: f"dsk{t}"),
)
HEADER_NAMES = st.sampled_from(
    [
        "Authorization",
        "authorization",
        "AUTHORIZATION",
        "x-api-key",
        "X-Device-Secret",
        "x-device-key",
        "Cookie",
    ]
)
SCHEMES = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "SharedKey"])
SEPARATORS = st.sampled_from([": ", ":", "=", " = ", ":\t"])


@EXAMPLES
@given(name=HEADER_NAMES, scheme=SCHEMES, separator=SEPARATORS, secret=SECRETS, before=st.text(max_size=30))
def test_no_secret_survives_a_header_line(
    name: str, scheme: str, separator: str, secret: str, before: str
) -> None:
    with_scheme = f"{before} {name}{separator}{scheme} {secret} accept=json"
    bare = f"{before} {name}{separator}{secret}; next=1"
    assert secret not in redact(with_scheme)
    assert secret not in redact(bare)


@EXAMPLES
@given(scheme=SCHEMES, secret=SECRETS)
def test_a_scheme_and_credentials_alone_lose_the_credentials(scheme: str, secret: str) -> None:
    # How the SDKs log a request's headers: a dict repr, the header name quoted.
    line = f"{{'User-Agent': 'x', 'Authorization': '{scheme} {secret}'}}"
    assert secret not in redact(line)


QUERY_NAMES = st.sampled_from(
    ["code", "sig", "token", "access_token", "id_token", "api_key", "client_secret"]
)


@EXAMPLES
@given(
    name=QUERY_NAMES,
    secret=SECRETS,
    others=st.lists(st.tuples(_text(string.ascii_lowercase, 1, 8), _text(_URLSAFE, 0, 12)), max_size=3),
    first=st.booleans(),
)
def test_no_secret_survives_a_query_string(
    name: str, secret: str, others: list[tuple[str, str]], first: bool
) -> None:
    pairs = [f"{k}={v}" for k, v in others]
    pairs.insert(0 if first else len(pairs), f"{name}={secret}")
    url = "https://tenantry.example/api/dynamics/x/webhook?" + "&".join(pairs)
    assert secret not in redact(f"POST {url} -> 202")


JSON_NAMES = st.sampled_from(
    ["token", "accessToken", "access_token", "idToken", "key", "secret", "deviceSecret"]
)


@EXAMPLES
@given(name=JSON_NAMES, secret=SECRETS, depth=st.integers(min_value=0, max_value=3), spaced=st.booleans())
def test_no_secret_survives_a_json_body(name: str, secret: str, depth: int, spaced: bool) -> None:
    document: object = {name: secret, "id": 7}
    for level in range(depth):
        document = {f"level{level}": document, "list": [1, 2]}
    separators = (", ", ": ") if spaced else (",", ":")
    assert secret not in redact(json.dumps(document, separators=separators))
