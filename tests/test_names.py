"""Names people read (drop names, display names, SKUs) refuse control characters, bidirectional
overrides and isolates, and other invisible format characters: 422 with a clear problem."""
from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.support import PASSWORD, create_drop, is_problem, make_account
from tests.test_auth import new_email

REFUSED = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\x00", "\x1b", "\n", "\x7f",
           "\u2028", "\ufeff", "\u00ad"]
KEPT = ["Mi Phone 14 Pro", "小米 手机", "\u06af\u0648\u0634\u06cc\u200c\u0647\u0627",  # Persian, with a ZWNJ
        "👩\u200d💻 edition", "Ünïcödé — ok"]


@pytest.mark.parametrize("char", REFUSED)
async def test_a_drop_name_with_a_control_or_bidi_character_is_422(app: FastAPI, client: httpx.AsyncClient,
                                                                  char: str) -> None:
    operator = await make_account(app, "operator")
    response = await client.post("/api/admin/drops", headers=operator.headers, json={
        "sku": "sku-names", "name": f"Phone{char}gpj.exe", "price_cents": 100, "currency": "CNY", "stock": 1})
    assert is_problem(response, 422, "validation_error"), response.text
    assert f"U+{ord(char):04X}" in response.json()["detail"], response.json()["detail"]


async def test_skus_and_display_names_refuse_them_too(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    sku = await client.post("/api/admin/drops", headers=operator.headers, json={
        "sku": "ab\u202ecd", "name": "Phone", "price_cents": 100, "currency": "CNY", "stock": 1})
    assert is_problem(sku, 422, "validation_error"), sku.text
    for char in REFUSED:
        registered = await client.post("/api/auth/register", json={
            "email": new_email(), "password": PASSWORD, "display_name": f"Ada{char}Lovelace"})
        assert is_problem(registered, 422, "validation_error"), (repr(char), registered.text)


@pytest.mark.parametrize("name", KEPT)
async def test_names_in_any_script_still_pass(app: FastAPI, client: httpx.AsyncClient, name: str) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, name=name)
    assert drop["name"] == name
    registered = await client.post("/api/auth/register", json={
        "email": new_email(), "password": PASSWORD, "display_name": name})
    assert registered.status_code == 201 and registered.json()["display_name"] == name
