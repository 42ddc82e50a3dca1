"""The share card: a 1200x630 PNG (the size Open Graph and Twitter's large cards show uncropped).

Drawn with Pillow from `CardText` only, so what a card can say is exactly those strings. The fonts
ship in the package (DejaVu, see fonts/LICENSE.txt): no system font is assumed. Text is drawn as
text, so HTML in a product or display name shows up literally and harmlessly.

Render one for a look:  python -m sale.share.card --out /tmp/card.png --name "Mi Phone 15 Ultra"
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import os
import secrets
import weakref
from dataclasses import astuple, dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from sale.images.store import MediaStore
from sale.share.wording import card_lead, speed_of

WIDTH, HEIGHT = 1200, 630
CARD_VERSION = "4-picture"  # part of every card's digest: a new design gets new ETags and cache files
FONTS = Path(__file__).resolve().parent / "fonts"
MARGIN = 72
LEADING = 1.14
TEXT_WIDTH = 760  # the bolt owns the right of the card
PICTURE_BOX = (820, 92, 1128, 500)  # the product picture, when the drop has one, instead of the bolt
PICTURE_TEXT_WIDTH = 720
INK, MUTED, ACCENT, ACCENT_HI = (247, 247, 250), (170, 174, 192), (255, 106, 0), (255, 176, 56)
BG_TOP, BG_BOTTOM = (24, 25, 34), (12, 12, 18)
# A lightning bolt in a unit box: the store's mark, and what a flash sale feels like.
BOLT = ((0.60, 0.0), (0.10, 0.57), (0.44, 0.57), (0.30, 1.0), (0.92, 0.38), (0.56, 0.38), (0.80, 0.0))


@dataclass(frozen=True, slots=True)
class CardText:
    store: str      # the store's name
    product: str    # the drop's product name
    lead: str       # "Got one in" / "Ada got one in"
    amount: str     # "2.4 seconds"
    drop_line: str  # "Drop of Tue 24 Nov 2026, 12:00 CST"
    site: str       # the store's host name
    cta: str = ""   # "Get yours at {site}" in the card's language ("" = English)
    picture: str = ""  # the product picture's stored file name (a content hash), "" for none

    @property
    def call_to_action(self) -> str:
        return self.cta or f"Get yours at {self.site}"

    def lines(self) -> tuple[str, ...]:
        """Every string the card draws."""
        return (self.store.upper(), self.product, self.lead, self.amount, self.drop_line, self.call_to_action)

    def digest(self) -> str:
        raw = "\x1f".join((CARD_VERSION, *astuple(self))).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


def _needs_cjk(text: str) -> bool:
    """DejaVu has no Chinese, Japanese or Korean glyphs: such text is drawn with WenQuanYi Micro Hei."""
    return any(ord(ch) >= 0x2E80 for ch in text)


@lru_cache(maxsize=64)
def _font(size: int, bold: bool = False, cjk: bool = False) -> ImageFont.FreeTypeFont:
    if cjk:
        return ImageFont.truetype(str(FONTS / "wqy-microhei.ttc"), size)
    return ImageFont.truetype(str(FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")), size)


def _clean(text: str) -> str:
    return " ".join(text.split())  # newlines, tabs and runs of spaces read as one space


def _ellipsize(text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}".strip()
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while font.getlength(word) > width:  # a word wider than the card is cut where it must be
            cut = len(word)
            while cut > 1 and font.getlength(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def _block(size: float, lines: int) -> float:
    """Height of lines of text from the capitals' top to the last descender (DejaVu's proportions)."""
    return size * (0.73 + LEADING * (lines - 1) + 0.22)


def _fit(text: str, sizes: tuple[int, ...], width: float, max_lines: int, height: float,
         bold: bool = True) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest size at which the text fits the box; at the smallest, the rest is cut with "…"."""
    cjk = _needs_cjk(text)
    for size in sizes:
        font = _font(size, bold, cjk)
        lines = _wrap(text, font, width)
        if len(lines) <= max_lines and _block(size, len(lines)) <= height:
            return font, lines
    fit = max(1, min(max_lines, int((height / size - 0.95) / LEADING) + 1))
    if len(lines) > fit:
        lines = lines[:fit]
        lines[-1] = _ellipsize(lines[-1] + " …", font, width)
    return font, lines


def _background() -> Image.Image:
    top = Image.new("RGB", (WIDTH, HEIGHT), BG_TOP)
    bottom = Image.new("RGB", (WIDTH, HEIGHT), BG_BOTTOM)
    mask = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    card = Image.composite(bottom, top, mask)
    # A warm glow behind the bolt.
    glow = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(glow).ellipse((760, -40, 1260, 460), fill=90)
    glow = glow.filter(ImageFilter.GaussianBlur(120))
    return Image.composite(Image.new("RGB", (WIDTH, HEIGHT), ACCENT), card, glow)


def _bolt(card: Image.Image, box: tuple[int, int, int, int]) -> None:
    """An anti-aliased bolt with a vertical orange gradient and a soft glow (drawn at 4x, then reduced)."""
    x0, y0, x1, y1 = box
    scale = 4
    w, h = (x1 - x0) * scale, (y1 - y0) * scale
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon([(px * w, py * h) for px, py in BOLT], fill=255)
    mask = mask.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
    full = Image.new("L", (WIDTH, HEIGHT), 0)
    full.paste(mask, (x0, y0))
    halo = full.filter(ImageFilter.GaussianBlur(28)).point(lambda v: v * 0.55)
    card.paste(Image.new("RGB", card.size, ACCENT), (0, 0), halo)
    gradient = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    paint = Image.composite(Image.new("RGB", card.size, ACCENT), Image.new("RGB", card.size, ACCENT_HI),
                            gradient)
    card.paste(paint, (0, 0), full)


def _mark(draw: ImageDraw.ImageDraw, card: Image.Image, x: int, y: int, size: int) -> None:
    draw.rounded_rectangle((x, y, x + size, y + size), radius=size // 4, fill=ACCENT)
    pad = size // 5
    mask = Image.new("L", ((size - 2 * pad) * 4, (size - 2 * pad) * 4), 0)
    mw, mh = mask.size
    ImageDraw.Draw(mask).polygon([(px * mw, py * mh) for px, py in BOLT], fill=255)
    mask = mask.resize((size - 2 * pad, size - 2 * pad), Image.Resampling.LANCZOS)
    card.paste(Image.new("RGB", mask.size, INK), (x + pad, y + pad), mask)


@lru_cache(maxsize=2)
def _base(bolt: bool = True) -> Image.Image:
    """Everything but the words: the same on every card, so drawn once per process (the blurs are slow)."""
    card = _background()
    if bolt:
        _bolt(card, (866, 92, 1136, 492))
    _mark(ImageDraw.Draw(card), card, MARGIN, 58, 52)
    return card


def _picture(card: Image.Image, data: bytes) -> None:
    """The product picture filling a rounded box on the right, centred (products sit in the middle)."""
    x0, y0, x1, y1 = PICTURE_BOX
    with Image.open(io.BytesIO(data)) as source:
        photo = ImageOps.fit(source.convert("RGB"), (x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
    shadow = Image.new("L", card.size, 0)
    ImageDraw.Draw(shadow).rounded_rectangle((x0 + 8, y0 + 14, x1 + 8, y1 + 14), radius=28, fill=140)
    card.paste(Image.new("RGB", card.size, (0, 0, 0)), (0, 0), shadow.filter(ImageFilter.GaussianBlur(18)))
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, photo.width - 1, photo.height - 1), radius=28, fill=255)
    card.paste(photo, (x0, y0), mask)


def render_card(text: CardText, picture: bytes | None = None) -> bytes:
    """The card as PNG bytes. CPU-bound (some tens of ms): call it in a thread from async code."""
    card = _base(picture is None).copy()
    text_width = TEXT_WIDTH
    if picture is not None:
        _picture(card, picture)
        text_width = PICTURE_TEXT_WIDTH
    draw = ImageDraw.Draw(card)
    store_font = _font(30, True, _needs_cjk(text.store))
    store = _ellipsize(_clean(text.store).upper(), store_font, text_width - 70)
    draw.text((MARGIN + 70, 96), store, font=store_font, fill=INK, anchor="ls")

    # The middle block (product, lead, amount) sits between the header and the rule, a bit high.
    top, bottom, lead_size, gap_after_product, gap_after_lead = 150, 505, 40, 40, 22
    amount_font, amount = _fit(_clean(text.amount), (104, 92, 80, 68), text_width, 1, 200)
    fixed = gap_after_product + _block(lead_size, 1) + gap_after_lead + _block(amount_font.size, 1)
    font, lines = _fit(_clean(text.product), (76, 68, 60, 54, 48, 42), text_width, 3, bottom - top - fixed)
    total = _block(font.size, len(lines)) + fixed
    y = top + (bottom - top - total) * 0.4 + 0.73 * font.size
    for line in lines:
        draw.text((MARGIN, y), line, font=font, fill=INK, anchor="ls")
        y += LEADING * font.size
    y += -LEADING * font.size + 0.22 * font.size + gap_after_product + 0.73 * lead_size
    lead_font = _font(lead_size, False, _needs_cjk(text.lead))
    draw.text((MARGIN, y), _ellipsize(_clean(text.lead), lead_font, text_width), font=lead_font,
              fill=MUTED, anchor="ls")
    y += 0.22 * lead_size + gap_after_lead + 0.73 * amount_font.size
    draw.text((MARGIN, y), amount[0], font=amount_font, fill=ACCENT_HI, anchor="ls")

    draw.line((MARGIN, 528, WIDTH - MARGIN, 528), fill=(54, 56, 70), width=2)
    cjk = _needs_cjk(text.call_to_action + text.drop_line)
    small, small_bold = _font(26, False, cjk), _font(26, True, cjk)
    cta = _ellipsize(_clean(text.call_to_action), small_bold, 520)
    draw.text((WIDTH - MARGIN, 580), cta, font=small_bold, fill=ACCENT_HI, anchor="rs")
    room = WIDTH - 2 * MARGIN - small_bold.getlength(cta) - 40
    draw.text((MARGIN, 580), _ellipsize(_clean(text.drop_line), small, room), font=small, fill=MUTED,
              anchor="ls")

    out = io.BytesIO()
    card.save(out, format="PNG", compress_level=6)
    return out.getvalue()


class CardStore:
    """Rendered cards on disk (shared by a host's workers), one file per token and wording: rendered once,
    then read back. Dropped when the link is revoked or its wording changes."""

    def __init__(self, root: Path, pictures: MediaStore | None = None) -> None:
        self.root = root
        self.pictures = pictures  # where `CardText.picture` names a stored file
        # One render per card at a time in this process: a fresh link posted to a group chat is
        # fetched by several unfurlers at once.
        self._rendering: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _dir(self, token_hash: str) -> Path:
        return self.root / token_hash[:2]  # 256 shards: no directory grows huge

    def _path(self, token_hash: str, text: CardText) -> Path:
        return self._dir(token_hash) / f"{token_hash}-{text.digest()}.png"

    def _read(self, token_hash: str, text: CardText) -> bytes | None:
        with contextlib.suppress(FileNotFoundError):
            return self._path(token_hash, text).read_bytes()
        return None

    def _render(self, token_hash: str, text: CardText, picture: bytes | None) -> bytes:
        path = self._path(token_hash, text)
        png = render_card(text, picture)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        partial.write_bytes(png)
        os.replace(partial, path)  # atomic: a concurrent reader sees the whole card or none
        return png

    async def png(self, token_hash: str, text: CardText) -> bytes:
        key = f"{token_hash}-{text.digest()}"
        lock = self._rendering.get(key)
        if lock is None:
            lock = self._rendering[key] = asyncio.Lock()
        async with lock:
            png = await asyncio.to_thread(self._read, token_hash, text)
            if png is not None:
                return png
            stored = await self.pictures.read(text.picture) if self.pictures is not None and text.picture else None
            return await asyncio.to_thread(self._render, token_hash, text, stored.data if stored else None)

    def forget(self, token_hash: str) -> None:
        for path in self._dir(token_hash).glob(f"{token_hash}-*.png"):
            path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render a sample share card.")
    parser.add_argument("--out", type=Path, default=Path("card.png"))
    parser.add_argument("--name", default="Mi Phone 15 Ultra", help="the product name")
    parser.add_argument("--buyer", default=None, help="a display name (only shown when the buyer opts in)")
    parser.add_argument("--seconds", type=float, default=2.4, help="from the drop's opening to the order")
    parser.add_argument("--when", default="Tue 24 Nov 2026, 12:00 CST")
    parser.add_argument("--store", default="flashsale")
    parser.add_argument("--site", default="flashsale.example")
    args = parser.parse_args(argv)
    speed = speed_of(args.seconds)
    text = CardText(store=args.store, product=args.name, lead=card_lead(speed, args.buyer),
                    amount=speed.amount, drop_line=f"Drop of {args.when}", site=args.site)
    args.out.write_bytes(render_card(text))
    print(f"wrote {args.out} ({WIDTH}x{HEIGHT})")


if __name__ == "__main__":
    main()
