"""Installs the app-wide log hygiene (shared/privacy/redact.py) when the app is indexed."""

from __future__ import annotations

from shared.privacy import redact


def install() -> None:
    redact.install()


def remember_settings_secrets(values: list[str | None]) -> None:
    redact.remember_secrets(values)
