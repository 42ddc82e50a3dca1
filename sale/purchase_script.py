"""The purchase as one value, from the route down to purchase.lua's arguments, and the script's
replies decoded in one place.

`PurchaseRequest` is what the buyer asked (built once by the route); `Purchase` adds what the service
decided before the script runs (the order id, the F-code lease, the referral, the address tag and
the drop's per-address cap).
`PURCHASE_FIELDS` names each purchase's ARGV fields in order: purchase.lua lists the same names in
its `FIELDS` (tests/test_purchase_script.py asserts they agree)."""
from __future__ import annotations

from dataclasses import dataclass

import orjson

from core.redis import ScriptArg

PURCHASE_FIELDS = ("user_id", "quantity", "order_id", "body_hash", "has_fcode", "fcode", "ref", "has_idem",
                   "address", "answer_only", "variant")


@dataclass(frozen=True, slots=True)
class PurchaseRequest:
    """A buyer's purchase as the route parsed it."""

    drop_id: int
    user_id: int
    quantity: int
    token_version: int
    fcode: str = ""                    # the F-code as typed, "" for none
    ref: str = ""                      # the referral token from the body, "" for none
    ref_cookie: str | None = None      # the browser's signed referral cookie
    idempotency_key: str | None = None
    client: str = ""                   # the client's address
    variant: str = ""                  # the variant's sku (checked against Sku's pattern), "" for none


@dataclass(frozen=True, slots=True)
class Purchase:
    """A request with what the service decided for it: what purchase.lua receives."""

    request: PurchaseRequest
    order_id: str
    fcode_hash: str = ""               # of the leased F-code, "" for none
    referral: str = ""                 # the verified referral token, "" for none
    address: str = ""                  # the client's address tag (base64url), "" for none
    answer_only: bool = False          # answer a known Idempotency-Key, take nothing
    address_cap: int = 1               # reserved-but-unpaid units one address may hold in this drop

    @property
    def body_hash(self) -> str:
        """What a repeated Idempotency-Key must match: the same quantity, F-code and variant."""
        return f"{self.request.quantity}:{self.fcode_hash}:{self.request.variant}"

    def args(self) -> tuple[ScriptArg, ...]:
        """This purchase's ARGV fields, in PURCHASE_FIELDS' order."""
        values: dict[str, ScriptArg] = {
            "user_id": self.request.user_id, "quantity": self.request.quantity, "order_id": self.order_id,
            "body_hash": self.body_hash, "has_fcode": 1 if self.fcode_hash else 0,
            "fcode": orjson.dumps(self.fcode_hash), "ref": orjson.dumps(self.referral),
            "has_idem": 0 if self.request.idempotency_key is None else 1, "address": self.address,
            "answer_only": 1 if self.answer_only else 0, "variant": self.request.variant,
        }
        return tuple(values[name] for name in PURCHASE_FIELDS)


@dataclass(frozen=True, slots=True)
class PurchaseReply:
    outcome: str            # "ok", "dup", "missing", "fenced" or a refusal code
    order: bytes | None     # the order JSON from Redis ("ok" and "dup")
    remaining: int = -1     # units left when refused (-1 unknown)

    @classmethod
    def decode(cls, raw: list[bytes]) -> PurchaseReply:
        """One reply of purchase.lua: {outcome, order JSON} or {code, remaining} or {outcome}."""
        outcome = raw[0].decode()
        if outcome in ("ok", "dup"):
            return cls(outcome, raw[1] if len(raw) > 1 else None)
        return cls(outcome, None, int(raw[1]) if len(raw) > 1 else -1)


FENCED = PurchaseReply("fenced", None)
