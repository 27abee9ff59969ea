"""What a poisoned message's record says: the error's kind and where, never the body or a secret,
and the partner it names only when the name is a partner id."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from shared.audit.poison import REASON_LENGTH, named_ids, reason_of
from shared.privacy.redact import redact

PARTNER = "01JTESTPARTNER000000000000"
TENANT = "3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f"


class Job(BaseModel):
    partner_id: str
    sync_id: str


def _validation_error(body: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Job.model_validate_json(body)
    return caught.value


def test_a_validation_error_names_fields_and_problems_but_not_the_input() -> None:
    body = '{"partner_id": 42, "token": "canary-secret-value"}'
    reason = reason_of(_validation_error(body), body, redact)
    assert "partner_id" in reason and "sync_id" in reason and "Field required" in reason
    assert "canary" not in reason and "42" not in reason


def test_an_error_quoting_the_body_or_a_secret_is_cleaned_and_cut() -> None:
    body = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk and more"
    reason = reason_of(ValueError(f"could not read {body!r}"), body, redact)
    assert "eyJ" not in reason and "[message body]" in reason
    secret = reason_of(RuntimeError("AccountKey=c2VjcmV0c2VjcmV0 refused"), "{}", redact)
    assert "c2VjcmV0c2VjcmV0" not in secret
    long = reason_of(RuntimeError("x" * 5000), "{}", redact)
    assert len(long) == REASON_LENGTH and long.endswith("...")


def test_the_partner_and_tenant_named_are_read_from_one_message_or_a_group_of_alike_jobs() -> None:
    assert named_ids(f'{{"partnerId": "{PARTNER}", "tenantId": "{TENANT}"}}') == (PARTNER, TENANT)
    group = f'{{"jobs": [{{"partnerId": "{PARTNER}"}}, {{"partnerId": "{PARTNER}"}}]}}'
    assert named_ids(group) == (PARTNER, None)
    mixed = f'{{"jobs": [{{"partnerId": "{PARTNER}"}}, {{"partnerId": "01JOTHERPARTNER00000000000"}}]}}'
    assert named_ids(mixed) == (None, None)
    # Anything that is not a partner id names nobody: no lane is written for it.
    assert named_ids('{"partnerId": "x\' or 1 eq 1"}') == (None, None)
    assert named_ids(b"not json") == (None, None)
    assert named_ids(b"\xff\xfe") == (None, None)
