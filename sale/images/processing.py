"""Checking and resizing an uploaded picture. Pure Pillow, CPU-bound: call it in a thread.

The format is decided by the bytes (Pillow's own sniffing, limited to PNG, JPEG and WebP), never by
the file name or the Content-Type. Dimensions are read from the header and checked before any pixel
is decoded, so a small file that expands to gigabytes of pixels (a decompression bomb) costs nothing.
The variants are re-encoded from pixels only: EXIF (GPS position, camera serial) and other metadata
never reach the stored files.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from sale.images.exceptions import ImageTooLarge, UnsupportedImage

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 8000 x 5000: any phone camera fits, a decompression bomb does not
MAX_SIDE = 12_000
WIDTHS = (400, 800, 1200)
FORMATS = ("PNG", "JPEG", "WEBP")
BACKGROUND = (255, 255, 255)

# Pillow's own guard, process-wide: opening anything bigger than twice this raises, bigger than this warns.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True, slots=True)
class Variant:
    width: int
    height: int
    webp: bytes
    jpeg: bytes

    def name(self, ext: str) -> str:
        """Content-hash file name: a new picture gets new URLs, so the old ones may be cached for good."""
        data = self.webp if ext == "webp" else self.jpeg
        return f"{hashlib.sha256(data).hexdigest()[:32]}.{'webp' if ext == 'webp' else 'jpg'}"


@dataclass(frozen=True, slots=True)
class Processed:
    source_format: str
    width: int
    height: int
    variants: tuple[Variant, ...]


def _open(data: bytes) -> Image.Image:
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageTooLarge(f"Pictures are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    if not data:
        raise UnsupportedImage("The file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"Pictures are limited to {MAX_PIXELS:,} pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UnsupportedImage("The file is not a PNG, JPEG or WebP image") from exc
    width, height = image.size
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageTooLarge(f"The picture is {width} x {height} pixels; the limit is {MAX_PIXELS:,} pixels "
                            f"and {MAX_SIDE} per side")
    return image


def _decode(image: Image.Image) -> Image.Image:
    """The first frame as RGB, turned upright (EXIF orientation), transparency on white."""
    try:
        if image.format == "JPEG":
            image.draft("RGB", (max(WIDTHS), max(WIDTHS)))  # decode big JPEGs at a reduced scale
        image.load()
        upright = ImageOps.exif_transpose(image)
        if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
            rgba = upright.convert("RGBA")
            flat = Image.new("RGB", rgba.size, BACKGROUND)
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return upright.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UnsupportedImage("The picture could not be decoded (truncated or corrupt)") from exc


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "WEBP":
        image.save(out, format="WEBP", quality=80, method=4)
    else:
        image.save(out, format="JPEG", quality=82, optimize=True, progressive=True)
    return out.getvalue()


def target_widths(width: int) -> list[int]:
    """The standard widths up to the picture's own (never enlarged); a narrow picture keeps its width."""
    widths = [w for w in WIDTHS if w <= width]
    return widths or [width]


def process(data: bytes) -> Processed:
    """Checks an upload and renders every variant in memory; raises UnsupportedImage or ImageTooLarge."""
    image = _open(data)
    source_format = str(image.format)
    pixels = _decode(image)
    width, height = pixels.size
    variants = []
    for target in target_widths(width):
        h = max(1, round(height * target / width))
        resized = pixels if target == width else pixels.resize((target, h), Image.Resampling.LANCZOS,
                                                               reducing_gap=3.0)
        variants.append(Variant(target, h, _encode(resized, "WEBP"), _encode(resized, "JPEG")))
    return Processed(source_format, width, height, tuple(variants))
