"""The OpenAPI document lists every problem answer: one shared Problem schema whose `code` is an
enum of all machine codes, and per operation each status it may answer with, as
application/problem+json. No framework error escapes with a code outside the contract."""
from __future__ import annotations

from typing import Any

import httpx

from app.problems import CODE_STATUS
from tests.support import is_problem

PROBLEM = "application/problem+json"
CONTRACT_CODES = {"validation_error", "unauthorized", "forbidden", "not_found", "rate_limited", "internal_error",
                  "email_taken", "bad_credentials", "drop_not_found", "not_open", "sold_out", "limit_reached",
                  "fcode_invalid", "idempotency_key_reused", "order_not_found", "payment_declined",
                  "order_expired", "unsupported_image", "payload_too_large", "queue_not_open",
                  "challenge_failed", "not_in_queue", "not_admitted", "address_limit", "bad_signature",
                  "address_required", "variant_required", "variant_not_found", "drop_paused", "stock_conflict",
                  "reservation_required", "entries_closed", "not_entered", "not_a_winner"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()
            if method in ("get", "post", "put", "patch", "delete")]


def codes_of(response: dict[str, Any]) -> list[str]:
    schema = response["content"][PROBLEM]["schema"]
    return list(schema["properties"]["code"]["enum"])


async def test_the_problem_schema_names_every_code(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail", "code"}
    enum = set(problem["properties"]["code"]["enum"])
    assert enum == set(CODE_STATUS)
    assert "http_error" not in enum and "bad_request" not in enum
    assert "HTTPValidationError" not in document["components"]["schemas"]  # never sent


async def test_every_operation_documents_its_problem_answers(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    ops = operations(document)
    assert len(ops) >= 20, len(ops)
    for path, method, op in ops:
        responses = op["responses"]
        for status in ("500", "503"):
            assert PROBLEM in responses[status]["content"], (method, path, status)
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert PROBLEM in response["content"], (method, path, status)
                for code in codes_of(response):
                    assert CODE_STATUS[code] == int(status), (method, path, status, code)
        if "requestBody" in op:
            assert "validation_error" in codes_of(responses["422"]), (method, path)
            assert "payload_too_large" in codes_of(responses["413"]), (method, path)
    by_operation = {(path, method): op["responses"] for path, method, op in ops}
    purchase = by_operation[("/api/drops/{drop_id}/purchase", "post")]
    assert set(codes_of(purchase["409"])) == {"sold_out", "limit_reached", "address_limit"}
    assert set(codes_of(purchase["403"])) == {"not_open", "fcode_invalid", "not_admitted", "not_a_winner"}
    join = by_operation[("/api/drops/{drop_id}/queue", "post")]
    assert set(codes_of(join["403"])) == {"queue_not_open", "challenge_failed"}
    assert set(codes_of(join["404"])) == {"drop_not_found", "no_waiting_room"}
    assert codes_of(purchase["401"]) == ["unauthorized"]
    assert set(codes_of(purchase["404"])) == {"drop_not_found", "variant_not_found"}
    assert "order_not_found" in codes_of(by_operation[("/api/orders/{order_id}/pay", "post")]["404"])
    assert codes_of(by_operation[("/api/auth/token", "post")]["401"]) == ["bad_credentials"]
    assert "rate_limited" in codes_of(by_operation[("/api/auth/register", "post")]["429"])
    assert "forbidden" in codes_of(by_operation[("/api/admin/drops", "post")]["403"])


async def test_framework_errors_carry_contract_codes(client: httpx.AsyncClient) -> None:
    wrong_method = await client.put("/api/fcodes/F000/gift")
    assert is_problem(wrong_method, 405, "method_not_allowed")
    assert set(wrong_method.headers["allow"].split(", ")) == {"POST", "DELETE"}  # every route's methods
    share = await client.options("/api/orders/1-abc/share")
    assert set(share.headers["allow"].split(", ")) == {"GET", "POST", "PATCH", "DELETE"}
    assert is_problem(await client.get("/api/nothing-here"), 404, "not_found")
    unparsable = await client.post("/api/auth/token", content=b"--x\r\nbroken",
                                   headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert is_problem(unparsable, 422, "validation_error")
    for code in CODE_STATUS:
        assert code in CONTRACT_CODES or code in README_CODES, code


README_CODES = {"order_cancelled", "order_not_cancellable", "payment_in_progress", "order_not_paid",
                "share_link_not_found", "fcode_malformed", "fcode_not_found", "fcode_not_available",
                "fcode_redeemed", "recipient_not_found", "gift_to_self", "method_not_allowed",
                "service_unavailable", "unsupported_media_type", "user_not_found", "no_waiting_room",
                "order_refunded", "order_not_refundable", "payment_method_unavailable",
                "payment_provider_unavailable", "push_endpoint_refused", "push_unavailable", "bad_unsubscribe_link",
                "message_not_found", "address_not_found", "too_many_addresses", "too_many_pictures",
                "picture_not_found", "not_a_draw", "draw_not_made", "entry_address_limit", "draw_made",
                "not_sold_out", "waitlist_closed", "not_on_waitlist", "media_store_unavailable"}
