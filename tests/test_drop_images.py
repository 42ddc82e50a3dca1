"""Product pictures: PUT /api/admin/drops/{id}/image checks the real format, refuses bombs and big files,
stores resized variants under content-hash names and serves them for good."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select

from sale.images.processing import MAX_UPLOAD_BYTES
from sale.models import MediaFile
from tests.support import create_drop, is_problem, make_account, runtime_of


def picture(fmt: str, size: tuple[int, int] = (1600, 1200), exif: bool = False) -> bytes:
    image = Image.new("RGBA" if fmt in ("PNG", "WEBP") else "RGB", size, (30, 120, 200, 255))
    for x in range(0, size[0], 97):  # some detail, so that the encoders have something to do
        image.paste((250, 200, 10, 255), (x, 0, x + 20, size[1]))
    out = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "SecretCam"       # Make
        tags[0x0131] = "GPS-leaking app"  # Software
        image.save(out, format=fmt, exif=tags.tobytes())
    else:
        image.save(out, format=fmt)
    return out.getvalue()


def png_bomb(side: int = 20_000) -> bytes:
    """A real 1-bit PNG of side x side pixels: about 50 MB of pixels in some 50 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = (b"\0" + b"\0" * ((side + 7) // 8)) * side
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


async def stored(app: FastAPI) -> set[str]:
    """Every stored picture file (in the database: every node serves them)."""
    async with runtime_of(app).sessions() as session:
        return set((await session.execute(select(MediaFile.name))).scalars().all())


async def upload(client: httpx.AsyncClient, drop_id: int, headers: dict[str, str], data: bytes,
                 name: str = "picture.png", content_type: str = "image/png") -> httpx.Response:
    return await client.put(f"/api/admin/drops/{drop_id}/image", headers=headers,
                            files={"file": (name, data, content_type)})


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
async def test_upload_stores_variants_and_serves_them_for_good(app: FastAPI, client: httpx.AsyncClient,
                                                               fmt: str) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator)
    assert drop["image_url"] is None and drop["images"] == []
    # The name and type claimed by the client do not matter: the bytes do.
    response = await upload(client, drop["id"], operator.headers, picture(fmt, exif=True), name="upload.bin",
                            content_type="application/octet-stream")
    assert response.status_code == 200, response.text
    body = response.json()
    [shown] = body["images"]
    assert (shown["width"], shown["height"]) == (1600, 1200)
    assert [(v["width"], v["height"]) for v in shown["sizes"]] == [(400, 300), (800, 600), (1200, 900)]
    assert body["image_url"] == shown["url"] == "http://testserver" + shown["sizes"][1]["jpeg"]
    again = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert again["image_url"] == body["image_url"] and again["images"] == body["images"]
    for variant in shown["sizes"]:
        for kind, mime in (("webp", "image/webp"), ("jpeg", "image/jpeg")):
            served = await client.get(variant[kind])
            assert served.status_code == 200
            assert served.headers["content-type"] == mime
            assert "immutable" in served.headers["cache-control"]
            assert "max-age=31536000" in served.headers["cache-control"]
            image = Image.open(io.BytesIO(served.content))
            assert image.format == ("WEBP" if kind == "webp" else "JPEG")
            assert image.size == (variant["width"], variant["height"])
            assert not image.getexif(), "EXIF must be stripped"
            assert b"SecretCam" not in served.content
            # Content-hash names: the file name is the digest of what it holds.
            import hashlib
            assert Path(variant[kind]).stem == hashlib.sha256(served.content).hexdigest()[:32]
            assert (await client.get(variant[kind], headers={"If-None-Match": served.headers["etag"]})
                    ).status_code == 304


async def test_small_picture_is_never_enlarged(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator)
    response = await upload(client, drop["id"], operator.headers, picture("PNG", (300, 200)))
    assert response.status_code == 200, response.text
    assert [(v["width"], v["height"]) for v in response.json()["images"][0]["sizes"]] == [(300, 200)]


async def test_refused_files_store_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator)
    before = await stored(app)
    text = b"name,price\nMi Phone,1999\n" * 50
    cases = [
        (await upload(client, drop["id"], operator.headers, text, name="phone.png"), 415, "unsupported_image"),
        (await upload(client, drop["id"], operator.headers, _gif(), name="a.png"),
         415, "unsupported_image"),
        (await upload(client, drop["id"], operator.headers, picture("PNG")[:2000]), 415, "unsupported_image"),
        (await upload(client, drop["id"], operator.headers, b""), 415, "unsupported_image"),
        (await upload(client, drop["id"], operator.headers, png_bomb()), 413, "payload_too_large"),
        (await upload(client, drop["id"], operator.headers, b"\xff\xd8\xff" + b"\0" * (6 * 1024 * 1024),
                      name="big.jpg", content_type="image/jpeg"), 413, "payload_too_large"),
        # Just over the file cap while the whole body stays under the request limit: the route's own check.
        (await upload(client, drop["id"], operator.headers, b"\x89PNG" + b"\0" * MAX_UPLOAD_BYTES),
         413, "payload_too_large"),
    ]
    for response, status, code in cases:
        assert is_problem(response, status, code), (response.status_code, response.text[:300])
    assert await stored(app) == before
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["image_url"] is None


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (50, 50), (1, 2, 3)).save(out, format="GIF")
    return out.getvalue()


async def test_only_operators_upload(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    employee = await make_account(app, "employee")
    drop = await create_drop(client, operator)
    assert is_problem(await upload(client, drop["id"], employee.headers, picture("PNG")), 403, "forbidden")
    assert is_problem(await upload(client, drop["id"], {}, picture("PNG")), 401, "unauthorized")
    assert is_problem(await upload(client, 999_999, operator.headers, picture("PNG")), 404, "drop_not_found")
    missing = await client.put(f"/api/admin/drops/{drop['id']}/image", headers=operator.headers)
    assert is_problem(missing, 422, "validation_error")


async def test_share_card_draws_the_product_picture(app: FastAPI, client: httpx.AsyncClient) -> None:
    from tests.support.share import browser, paid_order, parse, path_of

    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, name="Mi Phone 15 Ultra")
    order = await paid_order(client, buyer, drop["id"])
    async with browser(app) as visitor:
        before = await visitor.get(path_of(parse((await visitor.get(path_of(order["share_url"]))).text)
                                           .meta["og:image"]))
        green = Image.new("RGB", (1200, 900), (0, 200, 0))
        out = io.BytesIO()
        green.save(out, format="PNG")
        assert (await upload(client, drop["id"], operator.headers, out.getvalue())).status_code == 200
        card_url = parse((await visitor.get(path_of(order["share_url"]))).text).meta["og:image"]
        after = await visitor.get(path_of(card_url))
    assert after.status_code == 200 and after.content != before.content
    card = Image.open(io.BytesIO(after.content)).convert("RGB")
    assert card.size == (1200, 630)
    r, g, b = card.getpixel((970, 300))  # the middle of the picture's box, beside the headline
    assert g > 150 and r < 60 and b < 60, (r, g, b)
    old = Image.open(io.BytesIO(before.content)).convert("RGB").getpixel((970, 300))
    assert old[1] < 150  # before the upload: the bolt's orange, no green
