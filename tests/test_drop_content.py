"""A drop's product content (API.md "Drops": description, specs): created, answered by the API and the
catalog, refused when malformed, and rendered by the page as text."""
from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import create_drop, is_problem, make_account

DESCRIPTION = "The phone.\r\n\r\nA second paragraph <b>not HTML</b>,\nwith a line break. 徕卡光学镜头。"
SPECS = [{"name": "Storage", "value": "512 GB"}, {"name": "屏幕", "value": "6.73 英寸 2K"}]


async def test_description_and_specs_round_trip(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, description=DESCRIPTION, specs=SPECS)
    expected = DESCRIPTION.replace("\r\n", "\n")
    assert drop["description"] == expected and drop["specs"] == SPECS
    shown = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert shown["description"] == expected and shown["specs"] == SPECS
    listed = [d for d in (await client.get("/api/drops")).json() if d["id"] == drop["id"]]
    assert listed[0]["description"] == expected and listed[0]["specs"] == SPECS
    plain = await create_drop(client, operator)
    assert plain["description"] is None and plain["specs"] == []


@pytest.mark.parametrize("bad", [
    {"description": "x" * 5001}, {"description": "bidi \u202e trick"}, {"description": "nul \x00"},
    {"specs": [{"name": "a", "value": "b"}] * 41}, {"specs": [{"name": "", "value": "b"}]},
    {"specs": [{"name": "a"}]}, {"specs": [{"name": "a", "value": "b", "html": "<i>"}]}, {"specs": "Storage: 1"},
])
async def test_bad_content_is_422(app: FastAPI, client: httpx.AsyncClient, bad: dict[str, Any]) -> None:
    operator = await make_account(app, "operator")
    body = {"sku": "content-1", "name": "Phone", "price_cents": 100, "currency": "CNY", "stock": 1, **bad}
    assert is_problem(await client.post("/api/admin/drops", json=body, headers=operator.headers),
                      422, "validation_error")


async def test_drop_page_renders_content_as_text(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The page carries the slots; drop.js fills them with textContent (never innerHTML)."""
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, description=DESCRIPTION, specs=SPECS)
    page = await client.get(f"/drops/{drop['id']}")
    assert page.status_code == 200 and 'id="drop-description"' in page.text and 'id="drop-specs"' in page.text
    script = (await client.get("/static/js/drop.js")).text
    assert "innerHTML" not in script and "renderAbout" in script


def test_beijing_time_is_named_not_cst() -> None:
    """China's zone abbreviation "CST" reads as US Central: share pages and cards name it."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from core.i18n import translator
    from sale.share.wording import when

    moment = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert when(moment, shanghai, translator("en")) == "Tue 8 Dec 2026, 12:00 Beijing time"
    assert when(moment, shanghai, translator("zh")).startswith("北京时间 ")
    assert "CST" not in when(moment, shanghai, translator("ko"))
    assert when(moment, ZoneInfo("Europe/Berlin"), translator("en")).endswith("CET")
