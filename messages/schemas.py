from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.clock import as_utc

ChannelName = Literal["email", "push"]
DeliveryState = Literal["pending", "sent", "failed"]
# SQLite hands back naive datetimes (UTC here): answers always carry the offset.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


def _email_only() -> list[ChannelName]:
    return ["email"]


class ReminderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[ChannelName] = Field(default_factory=_email_only, max_length=2)


class ReminderOut(BaseModel):
    drop_id: int
    channels: list[ChannelName]
    created_at: UtcDatetime


class MessageOut(BaseModel):
    id: int
    kind: str
    drop_id: int | None
    order_id: str | None
    text: str
    created_at: UtcDatetime
    channels: dict[str, DeliveryState]


class DeadLetterOut(BaseModel):
    delivery_id: int
    message_id: int
    user_id: int
    kind: str
    channel: str
    attempts: int
    last_error: str | None
    created_at: UtcDatetime


class DeadLettersOut(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None


class PushKeys(BaseModel):
    p256dh: str = Field(min_length=1, max_length=200)
    auth: str = Field(min_length=1, max_length=64)


class PushSubscriptionIn(BaseModel):
    """A browser's PushSubscription.toJSON()."""

    endpoint: str = Field(min_length=1, max_length=1024)
    expirationTime: float | None = None
    keys: PushKeys


class PushKeyOut(BaseModel):
    vapid_public_key: str
