"""A shopper in the browser: looks through the gallery on a phone, chooses a variant, buys, adds an
address at checkout, pays, and sees the order number and where it ships."""
from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.helpers import Server, register, shoot, unique_email
from tests.e2e.quality import axe_violations, check_widths


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), colour).save(out, format="PNG")
    return out.getvalue()


def test_choose_a_variant_buy_add_an_address_pay_and_see_the_number(server: Server, browse: Any) -> None:
    api, operator_token = server.api, server.operator[1]
    drop = api.create_drop(operator_token, name="Mi Phone 15 Ultra", price_cents=599900, currency="CNY",
                           stock=None, shipping_required=True,
                           description="Leica optics.\n\nA 6.73-inch 2K display.",
                           specs=[{"name": "Chip", "value": "Snapdragon 8 Gen 3"}],
                           variants=[{"sku": "MP15U-BLK-512", "name": "Black, 512 GB", "stock": 3},
                                     {"sku": "MP15U-WHT-1T", "name": "White, 1 TB", "stock": 1,
                                      "price_cents": 699900}])
    for colour in ((20, 20, 20), (240, 240, 240), (30, 90, 200)):
        api.call("POST", f"/api/admin/drops/{drop['id']}/images", operator_token, expect=201,
                 files={"file": ("p.png", _png(colour), "image/png")})

    buyer = browse("buyer")
    register(buyer, unique_email("buyer"), next_path=f"/drops/{drop['id']}")
    expect(buyer.locator("#drop-name")).to_have_text("Mi Phone 15 Ultra")
    expect(buyer.locator("#drop-description p")).to_have_count(2)
    expect(buyer.locator("#drop-specs dd")).to_have_text(["Snapdragon 8 Gen 3"])
    expect(buyer.locator(".gallery .slide")).to_have_count(3)
    expect(buyer.locator("#buy")).to_have_text("Choose a version")
    expect(buyer.locator("#buy")).to_be_disabled()
    shoot(buyer, "drop-variants")

    # The gallery swipes on a phone: the track scrolls a slide over and the thumbnails follow.
    buyer.set_viewport_size({"width": 390, "height": 844})
    track = buyer.locator(".gallery-track")
    track.evaluate("t => t.scrollTo({ left: t.clientWidth, behavior: 'instant' })")
    expect(buyer.locator(".thumb").nth(1)).to_have_attribute("aria-current", "true")
    buyer.set_viewport_size({"width": 1440, "height": 900})

    buyer.get_by_label(re.compile("White, 1 TB")).check()
    expect(buyer.locator("#buy")).to_have_text("Buy now")
    buyer.locator("#buy").click()
    expect(buyer.locator("#buy-msg")).to_contain_text("Reserved 1 unit")
    expect(buyer.locator(".variant[data-sold-out='true']")).to_have_count(1, timeout=8000)
    buyer.locator("#buy-msg").get_by_role("link", name="Pay now").click()
    buyer.wait_for_url(re.compile(r".*/orders(#order-.+)?$"))
    card = buyer.locator(".order-card").first
    expect(card.locator(".order-number")).to_contain_text(f"{drop['id']}-00001")
    expect(card).to_contain_text("MP15U-WHT-1T")
    card.get_by_text("Add an address").click()
    for label, value in (("Recipient", "Li Lei"), ("Phone", "+86 138 0013 8000"), ("Country", "CN"),
                         ("City", "Beijing"), ("Street address", "1 Qinghe Middle St")):
        card.get_by_label(re.compile(label)).first.fill(value)
    card.get_by_role("button", name="Save address").click()
    expect(card.locator("select")).to_have_value(re.compile(r"\d+"))
    shoot(buyer, "checkout")
    card.get_by_role("button", name=re.compile(r"^Pay CN")).click()
    expect(buyer.locator("#orders-msg")).to_have_text("Paid. Thank you!")
    paid = buyer.locator(".order-card").first
    expect(paid.locator(".ships-to")).to_contain_text("1 Qinghe Middle St")
    expect(paid.locator(".order-number")).to_contain_text(f"{drop['id']}-00001")
    shoot(buyer, "orders-shipping")


LOCALES = {"en": "en-US", "zh": "zh-CN", "ko": "ko-KR"}


@pytest.mark.parametrize("lang", ["en", "zh", "ko"])
def test_drop_with_variants_and_checkout_pass_axe(server: Server, browse: Any, lang: str) -> None:
    """No serious or critical axe-core violation on the drop page (gallery, variants, content) and the
    checkout (address picker) in each language; no layout problem at phone and desktop widths."""
    api, operator_token = server.api, server.operator[1]
    drop = api.create_drop(operator_token, name="Mi Phone 15 Ultra", price_cents=599900, currency="CNY",
                           stock=None, description="Leica optics.\n\n2K display.",
                           specs=[{"name": "Chip", "value": "Snapdragon 8 Gen 3"}],
                           variants=[{"sku": "MP15U-BLK-512", "name": "Black, 512 GB", "stock": 3},
                                     {"sku": "MP15U-WHT-1T", "name": "White, 1 TB", "stock": 2}])
    for colour in ((20, 20, 20), (30, 90, 200)):
        api.call("POST", f"/api/admin/drops/{drop['id']}/images", operator_token, expect=201,
                 files={"file": ("p.png", _png(colour), "image/png")})
    page = browse(f"axe-{lang}", locale=LOCALES[lang], bypass_csp=True)
    register(page, unique_email(f"axe-{lang}"), next_path=f"/drops/{drop['id']}")
    expect(page.locator(".gallery .slide")).to_have_count(2)
    expect(page.locator(".variant")).to_have_count(2)
    assert axe_violations(page) == []
    assert check_widths(page, f"drop-variants-{lang}") == []
    page.locator(".variant input").first.check()
    page.locator("#buy").click()
    page.locator("#buy-msg a[href^='/orders']").click()
    expect(page.locator(".order-card select")).to_have_count(1)
    assert axe_violations(page) == []
    assert check_widths(page, f"checkout-{lang}") == []
