"""The contract's order, rendered straight to JSON bytes from the live (Redis) shape of an order."""
from __future__ import annotations

from typing import Any

import orjson

from core.clock import iso_ms
from sale.models import shown_status


def order_bytes(order: dict[str, Any], share_url: str | None = None) -> bytes:
    return orjson.dumps({
        "id": order["id"], "drop_id": order["drop_id"], "sku": order["sku"], "quantity": order["quantity"],
        "amount_cents": order["amount_cents"], "currency": order["currency"],
        "status": shown_status(order["status"]), "created_at": iso_ms(order["created_ms"]),
        "pay_by": iso_ms(order["pay_by_ms"]), "paid_at": iso_ms(order.get("paid_ms")), "share_url": share_url,
    })
