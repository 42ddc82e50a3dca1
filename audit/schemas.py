from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from pydantic import BaseModel

JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"
Snapshot: TypeAlias = dict[str, JSONValue]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the operator's account and email at the time, and the client address it came from."""

    user_id: int | None
    email: str
    address: str


# Changes made from the console (`flashsale ...`): no account, no client address.
CONSOLE = Actor(user_id=None, email="console", address="local")


@dataclass(frozen=True, slots=True)
class Change:
    """What an action did: its name ("drop.pause"), its target, and the values before and after."""

    action: str
    target_type: str
    target_id: str
    before: Snapshot | None = None
    after: Snapshot | None = None


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_email: str
    client: str
    action: str
    target_type: str
    target_id: str
    before: dict[str, object] | None
    after: dict[str, object] | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None
