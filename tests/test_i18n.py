"""The buyer's language: catalogues complete and consistent, every key the pages use exists, the
language negotiated and remembered, dates and money formatted per locale, share page and card translated."""
from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from PIL import Image

from core import i18n
from tests.support import create_drop, make_account
from tests.support.share import browser, paid_order, parse, path_of

ROOT = Path(__file__).resolve().parents[1]
PLURAL = re.compile(r"\.(zero|one|two|few|many|other)$")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _base(key: str) -> str:
    return PLURAL.sub("", key)


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    english = i18n.catalogue("en")
    for lang in i18n.LANGUAGES:
        catalogue = i18n.catalogue(lang)
        assert {_base(k) for k in catalogue} == {_base(k) for k in english}, f"{lang}: missing or extra keys"
        for key, text in catalogue.items():
            assert text.strip(), f"{lang}: {key} is empty"
            base = _base(key)
            if base != key:  # a plural: every language has the catch-all form
                assert f"{base}.other" in catalogue, f"{lang}: {base}.other missing"
                reference = english[f"{base}.other"]
            else:
                reference = english[key]
            wanted = set(PLACEHOLDER.findall(reference)) - {"count"}
            assert set(PLACEHOLDER.findall(text)) - {"count"} == wanted, f"{lang}: {key} placeholders differ"
            if key.startswith("signin."):
                assert text.count("[") == 1 and text.count("]") == 1, f"{lang}: {key} needs one [link]"
    plural_bases = {_base(k) for k in english if _base(k) != k}
    assert all(f"{b}.one" in english and f"{b}.other" in english for b in plural_bases)


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in (ROOT / "app/web/templates").rglob("*.html"):
        keys |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", path.read_text(encoding="utf-8")))
    for path in (ROOT / "app/web/static/js").glob("*.js"):
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r"""\bFS\.t\(\s*["']([a-z0-9_.]+)["']""", text))
        keys |= set(re.findall(r"""\b(?:signInPrompt|retry)\(\s*["']([a-z0-9_]+\.[a-z0-9_.]+)["']""", text))
        keys |= set(re.findall(r"""["']((?:ops|live|signin)\.[a-z0-9_]+)["']""", text))
    for path in [*(ROOT / "sale").rglob("*.py"), *(ROOT / "app").rglob("*.py")]:
        keys |= set(re.findall(r"""\btr\(\s*["']([a-z0-9_.]+)["']""", path.read_text(encoding="utf-8")))
    return keys


def test_every_key_used_in_pages_scripts_and_share_exists() -> None:
    used = _used_keys()
    assert len(used) > 150, "the scan found too few keys: has the t() call changed?"
    known = {_base(k) for k in i18n.catalogue("en")}
    assert {_base(k) for k in used} - known == set()
    # Keys made at run time: phase labels, problem codes, sentence forms of a share.
    english = i18n.catalogue("en")
    for phase in ("upcoming", "priority", "open", "sold_out", "ended"):
        assert f"phase.{phase}" in english
    for form in ("in", "with"):
        for stem in ("share.lead", "share.lead_named", "share.title", "share.title_named", "share.post"):
            assert f"{stem}.{form}" in english
    for code in ("sold_out", "limit_reached", "not_open", "fcode_invalid", "unsupported_image", "payload_too_large",
                 "rate_limited", "unauthorized", "forbidden", "drop_not_found", "order_expired"):
        assert f"error.{code}" in english


def test_language_negotiation() -> None:
    assert i18n.negotiate(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.negotiate(None, "ko-KR,ko;q=0.9") == "ko"
    assert i18n.negotiate(None, "fr-FR, de;q=0.9, ko;q=0.5") == "ko"
    assert i18n.negotiate(None, "zh;q=0, en") == "en"
    assert i18n.negotiate(None, "de, fr") == "en"
    assert i18n.negotiate(None, None) == "en"
    assert i18n.negotiate("ko", "zh-CN") == "ko"  # the remembered choice wins
    assert i18n.negotiate("xx", "zh-TW") == "zh"
    assert i18n.negotiate(None, ";;;,q=,zh;q=abc," + "x" * 5000) == "en"  # junk never fails


def test_dates_and_money_follow_the_locale() -> None:
    moment, zone = datetime(2026, 12, 8, 4, 0, tzinfo=UTC), ZoneInfo("Asia/Shanghai")
    assert i18n.translator("en").datetime(moment, zone) == "Tue 8 Dec 2026, 12:00"
    assert i18n.translator("zh").datetime(moment, zone) == "2026年12月8日 周二 12:00"
    assert i18n.translator("ko").datetime(moment, zone) == "2026년 12월 8일 (화) 12:00"
    assert i18n.translator("zh").money(599900, "CNY") == "¥5,999.00"
    assert i18n.translator("en").money(599900, "EUR") == "€5,999.00"
    assert i18n.translator("ko").money(39900, "KRW") == "₩39,900"  # no minor unit
    assert i18n.translator("en")("time.minutes", count=1) == "1 minute"
    assert i18n.translator("en")("time.minutes", count=3) == "3 minutes"
    assert i18n.translator("zh")("time.minutes", count=1) == "1 分钟"


async def test_pages_speak_the_negotiated_language_and_the_switch_remembers(app: FastAPI) -> None:
    async with browser(app) as visitor:
        page = await visitor.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
        assert page.status_code == 200
        assert '<html lang="zh-Hans">' in page.text and "<h1>发售</h1>" in page.text
        assert page.headers["content-language"] == "zh-Hans"
        assert "accept-language" in page.headers["vary"].lower()
        assert 'href="/lang/ko?next=/"' in page.text and 'aria-current="true">中文' in page.text
        # The catalogue for the scripts is in the page as data (no inline script runs: the CSP forbids it).
        assert '<script type="application/json" id="fs-i18n">' in page.text and "立即购买" in page.text

        switch = await visitor.get("/lang/ko", params={"next": "/drops/7?ref=abc"})
        assert switch.status_code == 303 and switch.headers["location"] == "/drops/7?ref=abc"
        assert "fs_lang=ko" in switch.headers["set-cookie"]
        remembered = await visitor.get("/drops/7", headers={"Accept-Language": "zh-CN"})
        assert '<html lang="ko">' in remembered.text and "수량" in remembered.text

        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            away = await visitor.get("/lang/zh", params={"next": evil})
            assert away.status_code == 303 and away.headers["location"] == "/"
        english = await visitor.get("/lang/en", params={"next": "/login"})
        assert english.headers["location"] == "/login"
        assert '<html lang="en">' in (await visitor.get("/login")).text


async def test_share_page_and_card_in_the_visitors_language(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, name="小米手机 15 Ultra")
    order = await paid_order(client, buyer, drop["id"])
    async with browser(app) as visitor:
        zh = await visitor.get(path_of(order["share_url"]), headers={"Accept-Language": "zh-CN"})
        assert zh.status_code == 200 and '<html lang="zh-Hans"' in zh.text
        meta = parse(zh.text).meta
        assert "抢到了 小米手机 15 Ultra" in meta["og:title"], meta["og:title"]
        assert "&lang=zh" in meta["og:image"]
        en = await visitor.get(path_of(order["share_url"]))
        en_meta = parse(en.text).meta
        assert en_meta["og:title"].startswith("Got the 小米手机 15 Ultra in ")
        cards = []
        for url in (meta["og:image"], en_meta["og:image"]):
            card = await visitor.get(path_of(url))
            assert card.status_code == 200 and card.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(card.content)).size == (1200, 630)
            cards.append(card.content)
        assert cards[0] != cards[1]
        missing = await visitor.get("/s/not-a-real-token-at-all", headers={"Accept-Language": "ko"})
        assert missing.status_code == 404 and "존재하지 않는 링크입니다" in missing.text


def test_every_problem_code_a_page_can_meet_has_a_message() -> None:
    import importlib
    import pkgutil

    from core.errors import DomainError

    for package in ("core", "accounts", "codes", "sale"):
        for module in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}."):
            if module.name.endswith("exceptions") or module.name == "core.errors":
                importlib.import_module(module.name)
    codes, pending = set(), list(DomainError.__subclasses__())
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending += cls.__subclasses__()
    assert len(codes) > 20
    no_page_meets = {"user_not_found", "bad_request"}  # PATCH /api/admin/users has no page
    english = i18n.catalogue("en")
    assert {c for c in codes - no_page_meets if f"error.{c}" not in english} == set()
