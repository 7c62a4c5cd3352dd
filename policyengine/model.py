"""Public models: the event and decision contracts as pydantic models (the API's edges only)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    """One event of the input contract. Any other field is allowed and reachable from policies."""
    model_config = ConfigDict(extra="allow")
    type: str = Field(description="message, reaction, checkin, join, leave, report, invite, moderation, or a declared type")
    ts: str | int | float = Field(description="RFC 3339 time such as 2026-11-01T08:00:00.250Z, or epoch seconds")
    user: str = Field(description="the member the event is from")
    id: str | None = None
    community: str | None = None
    channel: str | None = None
    text: str | None = None
    target: str | None = Field(None, description="the message acted on (reactions, reports)")
    target_user: str | None = Field(None, description="the author of `target`, or the invited member")
    roles: list[str] | None = Field(None, description="the author's roles as the platform reports them")


class Decision(BaseModel):
    """One decision of the output contract; fields are absent (None) when the action has no use for them.

    Reads like a mapping too (`d["action"]`, `d.get("points")`, `"user" in d`) so code written
    against the JSON Lines output works unchanged."""
    model_config = ConfigDict(extra="allow")
    ts: str
    policy: str
    rule: str
    action: str
    user: str | None = None
    event_id: str | None = None
    message_id: str | None = None
    duration_s: int | float | None = None
    message: str | None = None
    role: str | None = None
    badge: str | None = None
    points: int | float | None = None
    balance: int | float | None = None
    currency: str | None = None
    title: str | None = None
    label: str | None = None
    level: str | None = None
    level_number: int | None = None
    channel: str | None = None
    to: str | None = None
    reason: str | None = None
    shadow: bool | None = None
    explain: dict | None = None

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key, None)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None)
        return default if value is None else value

    def __contains__(self, key: str) -> bool:
        return getattr(self, key, None) is not None

    def to_json(self) -> dict:
        """The wire form: the same object `policyengine eval` writes."""
        return self.model_dump(exclude_none=True)
