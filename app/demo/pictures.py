"""Product pictures for the demo drops, drawn with Pillow (nothing downloaded, nothing binary shipped).

Look at one:  python -m app.demo.pictures phone /tmp/phone.png
"""
from __future__ import annotations

import io
import sys
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter

SIZE = (1200, 900)
SCALE = 2  # drawn at twice the size, then reduced: smooth edges

Color = tuple[int, int, int]


def _backdrop(top: Color, bottom: Color) -> Image.Image:
    w, h = SIZE[0] * SCALE, SIZE[1] * SCALE
    mask = Image.linear_gradient("L").resize((w, h))
    return Image.composite(Image.new("RGB", (w, h), bottom), Image.new("RGB", (w, h), top), mask)


def _shadow(image: Image.Image, box: tuple[int, int, int, int], radius: int) -> None:
    layer = Image.new("L", image.size, 0)
    x0, y0, x1, y1 = box
    ImageDraw.Draw(layer).rounded_rectangle((x0 + 30, y0 + 50, x1 + 30, y1 + 50), radius=radius, fill=110)
    layer = layer.filter(ImageFilter.GaussianBlur(40))
    image.paste(Image.new("RGB", image.size, (20, 20, 30)), (0, 0), layer)


def _screen(image: Image.Image, box: tuple[int, int, int, int], radius: int, top: Color, bottom: Color) -> None:
    x0, y0, x1, y1 = box
    glow = Image.linear_gradient("L").resize((x1 - x0, y1 - y0))
    panel = Image.composite(Image.new("RGB", glow.size, bottom), Image.new("RGB", glow.size, top), glow)
    mask = Image.new("L", glow.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, x1 - x0 - 1, y1 - y0 - 1), radius=radius, fill=255)
    image.paste(panel, (x0, y0), mask)


def phone() -> Image.Image:
    image = _backdrop((255, 236, 214), (255, 170, 110))
    body = (860, 180, 1540, 1660)
    _shadow(image, body, 110)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(body, radius=110, fill=(28, 29, 36))
    _screen(image, (890, 210, 1510, 1630), 90, (255, 120, 30), (120, 40, 160))
    draw.ellipse((1170, 240, 1230, 300), fill=(10, 10, 14))  # front camera
    draw.rounded_rectangle((1060, 1560, 1340, 1575), radius=8, fill=(250, 240, 255))
    for y in (620, 760, 900):  # widgets on the lock screen
        draw.rounded_rectangle((960, y, 1440, y + 100), radius=30, fill=(255, 196, 160), outline=(255, 230, 215),
                               width=4)
    return image


def band() -> Image.Image:
    image = _backdrop((214, 240, 255), (110, 170, 255))
    strap = (1000, 120, 1400, 1680)
    _shadow(image, strap, 200)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(strap, radius=200, fill=(40, 44, 58))
    for y in range(260, 1560, 90):  # strap texture
        draw.line((1060, y, 1340, y), fill=(56, 61, 78), width=10)
    capsule = (930, 560, 1470, 1240)
    draw.rounded_rectangle(capsule, radius=220, fill=(18, 18, 24))
    _screen(image, (975, 605, 1425, 1195), 190, (40, 220, 170), (20, 90, 200))
    draw.arc((1060, 760, 1340, 1040), start=135, end=405, fill=(255, 255, 255), width=26)
    return image


def buds() -> Image.Image:
    image = _backdrop((236, 230, 255), (170, 150, 240))
    case = (640, 760, 1760, 1500)
    _shadow(image, case, 260)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(case, radius=260, fill=(250, 250, 252))
    draw.line((660, 980, 1740, 980), fill=(205, 205, 215), width=8)
    draw.ellipse((1170, 1200, 1230, 1260), fill=(80, 220, 140))  # charge light
    for x0 in (780, 1280):  # two buds above the case
        _shadow(image, (x0, 260, x0 + 340, 640), 170)
        draw.ellipse((x0, 260, x0 + 340, 600), fill=(252, 252, 254))
        draw.rounded_rectangle((x0 + 120, 520, x0 + 220, 800), radius=50, fill=(240, 240, 246))
        draw.ellipse((x0 + 90, 330, x0 + 250, 490), fill=(60, 60, 72))
    return image


def pad() -> Image.Image:
    image = _backdrop((226, 246, 236), (120, 200, 170))
    body = (420, 300, 1980, 1500)
    _shadow(image, body, 80)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(body, radius=80, fill=(46, 50, 58))
    _screen(image, (470, 350, 1930, 1450), 50, (60, 200, 160), (30, 70, 150))
    for x in range(620, 1800, 280):  # app tiles
        for y in (560, 860):
            draw.rounded_rectangle((x, y, x + 180, y + 180), radius=44, fill=(210, 250, 235), outline=(250, 255, 252),
                                   width=4)
    draw.rounded_rectangle((560, 1560, 1840, 1640), radius=40, fill=(70, 74, 84))  # the keyboard cover's edge
    return image


PICTURES: dict[str, Callable[[], Image.Image]] = {"phone": phone, "band": band, "buds": buds, "pad": pad}


def png(name: str) -> bytes:
    """The named picture as PNG bytes (1200 x 900), ready for the upload pipeline."""
    image = PICTURES[name]().resize(SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


if __name__ == "__main__":
    with open(sys.argv[2], "wb") as handle:
        handle.write(png(sys.argv[1]))
