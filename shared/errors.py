"""Errors the product raises, each carrying the RFC 9457 problem it becomes at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROBLEM_TYPE_BASE = "https://tenantry.dev/problems/"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass
class ProblemError(Exception):
    """A failure a caller can act on. `kind` is the stable part of the problem `type` URI."""

    status: int
    kind: str
    title: str
    detail: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.kind

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type_uri, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        body.update(self.extra)
        return body


def bad_request(detail: str) -> ProblemError:
    return ProblemError(400, "malformed-request", "The request could not be read.", detail)


def validation_failed(errors: list[FieldError]) -> ProblemError:
    names = ", ".join(e.field for e in errors)
    return ProblemError(
        422, "validation-failed", "The request has invalid fields.", f"Invalid: {names}.", errors
    )


def not_found(detail: str = "No such resource.") -> ProblemError:
    return ProblemError(404, "not-found", "Not found.", detail)


def method_not_allowed(allowed: list[str]) -> ProblemError:
    allow = ", ".join(sorted(allowed))
    return ProblemError(
        405,
        "method-not-allowed",
        "Method not allowed.",
        f"This path accepts: {allow}.",
        headers={"Allow": allow},
    )


def forbidden(permission: str, detail: str) -> ProblemError:
    """403 naming, in `missingPermission`, what the caller would need (a scope, a role, a reach)."""
    return ProblemError(403, "forbidden", "Not allowed.", detail, extra={"missingPermission": permission})


def unauthenticated(detail: str = "A valid credential is required.") -> ProblemError:
    return ProblemError(401, "unauthenticated", "Authentication required.", detail)


def service_unavailable(detail: str) -> ProblemError:
    return ProblemError(503, "service-unavailable", "A dependency is unavailable.", detail)
