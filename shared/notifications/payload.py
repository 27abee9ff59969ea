"""What a notification carries: its payload (shown, never stored in the clear) and what is accepted."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    """What a device shows. Lives in memory and in the sealed transient blob, nowhere else."""

    title: str
    body: str
    data: dict[str, str]
    link: str | None

    def to_json(self) -> str:
        return json.dumps({"title": self.title, "body": self.body, "data": self.data, "link": self.link})

    @classmethod
    def from_json(cls, text: str) -> Payload:
        raw = json.loads(text)
        return cls(str(raw["title"]), str(raw["body"]), dict(raw.get("data") or {}), raw.get("link"))


@dataclass(frozen=True)
class NewNotification:
    org_id: str
    source: str  # webhook | partner
    recipients: list[str] | None  # system user ids; None = everyone
    payload: Payload
    rule_id: str | None = None
    entity: str | None = None
    message: str | None = None
    record_id: str | None = None
    needs_record: bool = False
    # Set by the webhook, derived from the Dataverse delivery: accepting it twice makes one notification.
    notification_id: str | None = None
