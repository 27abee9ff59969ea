"""Issuers and the token validator's set-up, where the mutation score found no test that cared."""

from __future__ import annotations

import pytest

from shared.access.tokens import InvalidTokenError, TokenValidator, expected_issuer, v1_issuer

TENANT = "6F0A1C2B-3D4E-4F50-8A9B-0C1D2E3F4A5B"


@pytest.mark.parametrize(
    "host", ["https://login.example", "https://login.example/", "https://login.example//"]
)
def test_the_v2_issuer_is_one_slash_after_the_host_whatever_the_setting_ends_with(host: str) -> None:
    # The issuer is compared as a string: a doubled or missing slash would refuse every real token.
    assert expected_issuer(host, TENANT) == f"https://login.example/{TENANT.lower()}/v2.0"


@pytest.mark.parametrize("host", ["https://sts.example", "https://sts.example/"])
def test_the_v1_issuer_is_one_slash_after_the_host_and_ends_with_one(host: str) -> None:
    assert v1_issuer(host, TENANT) == f"https://sts.example/{TENANT.lower()}/"


def test_a_validator_set_up_with_trailing_slashes_expects_the_same_issuers() -> None:
    validator = TokenValidator(
        "https://login.example/keys",
        "api://tenantry",
        authority_host="https://login.example/",
        v1_issuer_host="https://sts.example/",
    )
    assert validator.issuers(TENANT) == (
        f"https://login.example/{TENANT.lower()}/v2.0",
        f"https://sts.example/{TENANT.lower()}/",
    )


def test_a_validator_without_an_audience_is_a_set_up_mistake_said_plainly() -> None:
    with pytest.raises(ValueError, match=r"^at least one audience is required$"):
        TokenValidator("https://login.example/keys", "", "")


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", ""])
def test_a_malformed_token_is_refused_as_invalid_before_any_key_is_fetched(token: str) -> None:
    # The key set's URL answers nothing here: the header is read (and refused) first.
    validator = TokenValidator("http://127.0.0.1:9/keys", "api://tenantry")
    with pytest.raises(InvalidTokenError):
        validator.validate(token)
