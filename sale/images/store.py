"""Stored variants on disk (shared by a host's workers), under content-hash names that never change."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from sale.images.processing import Processed

MEDIA_PATH = "/media"  # where the web app serves the media directory
DROPS = "drops"


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.drops = root / DROPS

    def path(self, name: str) -> Path:
        return self.drops / name

    def _write(self, name: str, data: bytes) -> None:
        path = self.path(name)
        if path.exists():
            return  # same name, same bytes
        partial = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        partial.write_bytes(data)
        os.replace(partial, path)  # atomic: a reader sees the whole file or none

    def save(self, processed: Processed) -> dict[str, Any]:
        """Writes every variant; returns what the drop row keeps (file names, sizes, source format)."""
        self.drops.mkdir(parents=True, exist_ok=True)
        variants = []
        for variant in processed.variants:
            webp, jpeg = variant.name("webp"), variant.name("jpeg")
            self._write(webp, variant.webp)
            self._write(jpeg, variant.jpeg)
            variants.append({"width": variant.width, "height": variant.height, "webp": webp, "jpeg": jpeg})
        return {"format": processed.source_format, "width": processed.width, "height": processed.height,
                "variants": variants}

    @staticmethod
    def card_picture(image: dict[str, Any] | None, max_width: int = 800) -> str | None:
        """File name of the stored JPEG closest to `max_width` without passing it (drawn on share cards)."""
        if not image or not image.get("variants"):
            return None
        fitting = [v for v in image["variants"] if v["width"] <= max_width] or image["variants"][:1]
        return str(fitting[-1]["jpeg"])


def variant_url(name: str) -> str:
    """Same-origin path of a stored file."""
    return f"{MEDIA_PATH}/{DROPS}/{name}"


def image_fields(image: dict[str, Any] | None, base_url: str) -> dict[str, Any]:
    """The drop's `image_url` (absolute, the 800 px JPEG or the closest below) and `images` (every variant)."""
    if not image or not image.get("variants"):
        return {"image_url": None, "images": []}
    variants = image["variants"]
    main = ([v for v in variants if v["width"] <= 800] or variants)[-1]
    return {
        "image_url": base_url + variant_url(main["jpeg"]),
        "images": [{"width": v["width"], "height": v["height"], "webp": variant_url(v["webp"]),
                    "jpeg": variant_url(v["jpeg"])} for v in variants],
    }
