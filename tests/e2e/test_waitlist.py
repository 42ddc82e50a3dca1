"""The waitlist on the drop page (issue 22): a sold-out drop offers "Join the waitlist", the place shows
after joining, and once a unit comes back "held for you until ...: buy now" with the buy button enabled
for the holder, who buys it. In English, Chinese and Korean the section passes axe-core and fits phone
and desktop widths."""
from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import Server, register, unique_email
from tests.e2e.quality import axe_violations, check_widths

LOCALES = {"en": "en-GB", "zh": "zh-CN", "ko": "ko-KR"}
JOIN = {"en": "Join the waitlist", "zh": "加入候补名单", "ko": "대기 명단에 등록"}
PLACE = {"en": "You are number 1 on the waitlist", "zh": "你在候补名单中排第 1 位", "ko": "대기 명단 1번입니다"}
HELD = {"en": r"A unit is held for you until \d", "zh": r"已为你保留一件.保留至 \d", "ko": r"\d.*보류되어 있습니다"}


@pytest.mark.parametrize("lang", ["en", "zh", "ko"])
def test_join_the_waitlist_then_buy_the_unit_held(server: Server, browse: Any, lang: str) -> None:
    api, operator_token = server.api, server.operator[1]
    drop = api.create_drop(operator_token, name="Mi Band 9 Pro", stock=1, waitlist_hold_minutes=5)
    first = api.register(unique_email("first"))
    order = api.call("POST", f"/api/drops/{drop['id']}/purchase", first, expect=201, json={"quantity": 1})

    page = browse(f"waiter-{lang}", locale=LOCALES[lang], bypass_csp=True)
    register(page, unique_email(f"waiter-{lang}"), next_path=f"/drops/{drop['id']}")
    section = page.locator("#waitlist")
    expect(section).to_be_visible()
    expect(page.locator("#buy")).to_be_disabled()
    page.get_by_role("button", name=JOIN[lang]).click()
    expect(page.locator("#waitlist-status")).to_contain_text(PLACE[lang])
    expect(page.locator("#waitlist-leave")).to_be_visible()
    problems = [f"waitlist {lang}: {v}" for v in axe_violations(page)]
    problems += check_widths(page, f"drop-waitlist-{lang}")

    api.call("POST", f"/api/orders/{order['id']}/cancel", first)  # the unit comes back: held for the waiter
    expect(page.locator("#waitlist-status")).to_have_text(re.compile(HELD[lang]), timeout=15_000)
    expect(page.locator("#buy")).to_be_enabled()
    problems += [f"held {lang}: {v}" for v in axe_violations(page)]
    assert not problems, "\n".join(problems)
    page.locator("#buy").click()
    expect(page.locator("#buy-msg")).to_contain_text({"en": "Reserved 1 unit", "zh": "1", "ko": "1"}[lang])
