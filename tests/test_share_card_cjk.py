"""Chinese product and buyer names are drawn with real glyphs, not the missing-glyph box."""
from __future__ import annotations

import io

from PIL import Image

from sale.share.card import CardText, _font, render_card


def _distinct_glyphs(font: object, chars: str) -> int:
    return len({bytes(font.getmask(ch)) for ch in chars})  # type: ignore[attr-defined]


def test_cjk_text_uses_a_font_that_has_the_glyphs() -> None:
    chars = "小米手机限量版"
    # DejaVu draws every one of these as the same .notdef box; the shipped CJK font draws each.
    assert _distinct_glyphs(_font(60, True), chars) == 1
    assert _distinct_glyphs(_font(60, True, True), chars) == len(chars)


def test_card_with_chinese_names_renders() -> None:
    text = CardText(store="flashsale", product="小米手机 15 Ultra 限量版", lead="小明 got one in",
                    amount="2.4 seconds", drop_line="Drop of Tue 24 Nov 2026, 12:00 CST", site="shop.example")
    image = Image.open(io.BytesIO(render_card(text)))
    assert image.size == (1200, 630)
