"""Pages in English, Chinese and Korean: axe-core finds no serious or critical problem on the storefront, a drop
page and the operator's dashboard; at phone and desktop widths nothing overflows or is clipped
(screenshots in var/screenshots/); pictures uploaded on the dashboard show on the pages; the language
switch is remembered."""
from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.helpers import Server, iso, sign_in
from tests.e2e.quality import PHONE, SHIFT_WATCH, axe_violations, check_widths, layout_shifts

LOCALES = {"en": "en-GB", "zh": "zh-CN", "ko": "ko-KR"}
TAGS = {"en": "en", "zh": "zh-Hans", "ko": "ko"}
OPENS_IN = {"en": r"Opens in [23] minutes", "zh": r"距开售 [23] 分钟", "ko": r"오픈까지 [23]분"}


def picture(fmt: str, color: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", (1600, 1200), color)
    for x in range(0, 1600, 160):
        image.paste((255, 255, 255), (x, 500, x + 60, 700))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.fixture(scope="module")
def drops(server: Server) -> list[dict[str, Any]]:
    """Three drops as a store has them: open now, opening soon (long name), next week; pictures on two."""
    api, token = server.api, server.operator[1]
    now = datetime.now(UTC)
    made = [
        api.create_drop(token, name="Mi Phone 15 Ultra", currency="CNY", price_cents=599900, stock=300,
                        per_user_limit=2),
        api.create_drop(token, name="Xiaomi Smart Band 9 Pro Titanium Special Edition 限量版 with a long name",
                        starts_at=iso(now + timedelta(minutes=3)), ends_at=iso(now + timedelta(hours=2))),
        api.create_drop(token, name="Mi Buds 5 Pro", starts_at=iso(now + timedelta(days=6)),
                        ends_at=iso(now + timedelta(days=6, hours=1)), priority_minutes=30),
    ]
    for drop, color in zip(made[:2], ((255, 120, 30), (40, 160, 220)), strict=True):
        response = api.http.put(f"/api/admin/drops/{drop['id']}/image", headers={"Authorization": f"Bearer {token}"},
                                files={"file": ("p.jpg", picture("JPEG", color), "image/jpeg")})
        assert response.status_code == 200, response.text
    return made


@pytest.mark.parametrize("lang", ["en", "zh", "ko"])
def test_pages_pass_axe_and_fit_phone_and_desktop(server: Server, browse: Any, drops: list[dict[str, Any]],
                                                   lang: str) -> None:
    problems: list[str] = []
    page = browse(f"visitor-{lang}", locale=LOCALES[lang], bypass_csp=True)
    page.context.add_init_script(SHIFT_WATCH)
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", TAGS[lang])
    expect(page.locator("#drop-list")).to_have_attribute("aria-busy", "false")
    for drop in drops:
        expect(page.locator(f"#drop-list a[href='/drops/{drop['id']}']").first).to_be_visible()
    card = page.locator("#drop-list > li").filter(has=page.locator(f"a[href='/drops/{drops[0]['id']}']"))
    image = card.locator("picture img")
    image.scroll_into_view_if_needed()
    image.evaluate("img => img.decode()")  # loaded and decodable
    assert image.evaluate("img => img.naturalWidth") > 0
    assert "800w" in (image.get_attribute("srcset") or "") and image.get_attribute("sizes")
    assert card.locator("picture source[type='image/webp']").count() == 1
    # The first cards load their pictures at once; those further down only when scrolled to.
    # One read of the list (it re-renders when another test's drop appears): each picture's card index.
    pictures = page.locator("#drop-list > li").evaluate_all(
        "items => items.flatMap((li, n) => Array.from(li.querySelectorAll('img'), i => [n, i.loading]))")
    assert pictures and all((mode == "eager") == (index < 2) for index, mode in pictures), pictures
    assert page.locator("#drops-live").get_attribute("aria-live") == "polite"
    if lang == "zh":
        expect(page.locator("h1")).to_have_text("发售")
        expect(page.locator("#drop-list .badge").first).to_have_text("抢购中")
        assert "¥5,999.00" in page.locator("#drop-list").inner_text()
    page.wait_for_function("() => Array.from(document.querySelectorAll('#drop-list img[loading=eager]'))"
                           ".every(i => i.complete)")
    problems += [f"storefront {lang}: layout shift {s}" for s in layout_shifts(page)]
    problems += [f"storefront {lang}: {v}" for v in axe_violations(page)]
    problems += check_widths(page, f"storefront-{lang}")

    page.goto(f"/drops/{drops[1]['id']}")
    expect(page.locator("#drop")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#drop-media picture img")).to_have_attribute("loading", "eager")
    page.wait_for_function("() => document.querySelector('#drop-media img').complete")
    problems += [f"drop {lang}: layout shift {s}" for s in layout_shifts(page)]
    spoken = page.locator("#drop-countdown-sr")
    assert spoken.get_attribute("aria-live") == "polite"
    expect(spoken).to_have_text(re.compile(OPENS_IN[lang]))
    problems += [f"drop {lang}: {v}" for v in axe_violations(page)]
    problems += check_widths(page, f"drop-{lang}")

    ops = browse(f"operator-{lang}", locale=LOCALES[lang], bypass_csp=True)
    sign_in(ops, server.operator[0], next_path="/ops")
    expect(ops.locator("nav [data-min-role=operator]")).to_be_visible()  # signed in (the URL matched early)
    ops.goto(f"/ops?watch#drop={drops[0]['id']}")
    expect(ops.locator("#live-conn")).to_have_text({"en": "Live", "zh": "实时", "ko": "실시간"}[lang])
    problems += [f"dashboard {lang}: {v}" for v in axe_violations(ops)]
    problems += check_widths(ops, f"dashboard-{lang}")

    ops.goto("/login")
    problems += [f"login {lang}: {v}" for v in axe_violations(ops)]
    assert not problems, "\n".join(problems)


def test_upload_on_the_dashboard_shows_on_the_pages(server: Server, browse: Any, drops: list[dict[str, Any]],
                                                    tmp_path: Any) -> None:
    target = drops[2]
    ops = browse("operator")
    sign_in(ops, server.operator[0], next_path="/ops")
    expect(ops.locator("nav [data-min-role=operator]")).to_be_visible()
    ops.select_option("#image-drop", str(target["id"]))
    for fmt, name in (("PNG", "buds.png"), ("WEBP", "buds.webp"), ("JPEG", "buds.jpg")):
        path = tmp_path / name
        path.write_bytes(picture(fmt, (120, 90, 220)))
        ops.set_input_files("#image-file", str(path))
        ops.get_by_role("button", name="Upload picture").click()
        expect(ops.locator("#image-msg")).to_have_text("Picture saved for Mi Buds 5 Pro.")
        expect(ops.locator("#image-preview picture img")).to_be_visible()
    # A renamed text file: refused with the page's message, nothing changes.
    before = server.api.http.get(f"/api/drops/{target['id']}").json()["image_url"]
    fake = tmp_path / "not-a-picture.png"
    fake.write_text("just some text\n" * 100)
    ops.set_input_files("#image-file", str(fake))
    ops.get_by_role("button", name="Upload picture").click()
    expect(ops.locator("#image-msg")).to_have_text("That file isn't a PNG, JPEG or WebP picture.")
    expect(ops.locator("#image-file")).to_have_attribute("aria-invalid", "true")
    assert server.api.http.get(f"/api/drops/{target['id']}").json()["image_url"] == before

    shopper = browse("shopper", viewport=PHONE)
    shopper.goto(f"/drops/{target['id']}")
    # Each upload after the first joined the gallery: three pictures, the first shown, its box 4:3.
    expect(shopper.locator("#drop-media .slide")).to_have_count(3)
    image = shopper.locator("#drop-media picture img").first
    expect(image).to_be_visible()
    expect(shopper.locator("#drop-media .slide img").nth(1)).to_have_attribute(
        "alt", "Mi Buds 5 Pro, picture 2 of 3")
    shopper.wait_for_function("() => document.querySelector('#drop-media img').naturalWidth > 0")
    box = shopper.locator("#drop-media .slide").first.bounding_box()
    assert box is not None and abs(box["width"] / box["height"] - 4 / 3) < 0.02


def test_language_switch_is_remembered(server: Server, browse: Any, drops: list[dict[str, Any]]) -> None:
    page = browse("switcher")
    page.goto(f"/drops/{drops[0]['id']}")
    expect(page.locator("#buy")).to_have_text("Sign in to buy")
    page.get_by_role("navigation", name="Language").get_by_role("link", name="中文").click()
    expect(page).to_have_url(f"{server.base_url}/drops/{drops[0]['id']}")
    expect(page.locator("#buy")).to_have_text("登录后购买")
    expect(page.locator("#drop-price")).to_have_text("¥5,999.00")
    page.get_by_role("link", name="我的订单").click()
    expect(page.locator("h1")).to_have_text("我的订单")  # remembered across pages (cookie)
    page.get_by_role("navigation", name="语言").get_by_role("link", name="한국어").click()
    expect(page.locator("h1")).to_have_text("내 주문")
    page.get_by_role("navigation", name="언어").get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("My orders")
