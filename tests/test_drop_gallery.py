"""A drop's gallery (API.md "Drops": `images`, POST/DELETE .../images): up to 8 pictures in order, stored
in the database under content-hash names (identical uploads are one row), served by any node."""
from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from sale.images.store import MediaStore
from sale.models import MediaFile
from tests.support import create_drop, is_problem, make_account, runtime_of
from tests.test_drop_images import picture


async def add(client: httpx.AsyncClient, drop_id: int, headers: dict[str, str], data: bytes) -> httpx.Response:
    return await client.post(f"/api/admin/drops/{drop_id}/images", headers=headers,
                             files={"file": ("p.png", data, "image/png")})


async def media_rows(app: FastAPI) -> int:
    async with runtime_of(app).sessions() as session:
        return int((await session.execute(select(func.count()).select_from(MediaFile))).scalar_one())


async def test_gallery_of_eight_in_order(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, shopper = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator)
    sizes = [(400 + 10 * i, 300) for i in range(8)]
    urls = []
    for size in sizes:
        response = await add(client, drop["id"], operator.headers, picture("PNG", size))
        assert response.status_code == 201, response.text
        urls.append(response.json()["images"][-1]["url"])
    body = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert [(p["width"], p["height"]) for p in body["images"]] == sizes
    assert body["image_url"] == urls[0] == body["images"][0]["url"]
    assert is_problem(await add(client, drop["id"], operator.headers, picture("PNG", (500, 500))),
                      409, "too_many_pictures")
    assert is_problem(await add(client, drop["id"], shopper.headers, picture("PNG")), 403, "forbidden")
    # Deleting the first: the second becomes the drop's picture.
    removed = await client.delete(f"/api/admin/drops/{drop['id']}/images/0", headers=operator.headers)
    assert removed.status_code == 200 and [p["url"] for p in removed.json()["images"]] == urls[1:]
    assert removed.json()["image_url"] == urls[1]
    for bad in ("7", "x", "-1", "99999"):
        assert is_problem(await client.delete(f"/api/admin/drops/{drop['id']}/images/{bad}",
                                              headers=operator.headers), 404, "picture_not_found")
    # PUT .../image replaces the first picture and keeps the others.
    put = await client.put(f"/api/admin/drops/{drop['id']}/image", headers=operator.headers,
                           files={"file": ("p.png", picture("PNG", (640, 480)), "image/png")})
    assert put.status_code == 200 and put.json()["images"][0]["width"] == 640
    assert [p["url"] for p in put.json()["images"][1:]] == urls[2:]


async def test_pictures_live_in_the_database(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    one, two = await create_drop(client, operator), await create_drop(client, operator)
    data = picture("JPEG", (900, 600))
    first = await add(client, one["id"], operator.headers, data)
    rows = await media_rows(app)
    second = await add(client, two["id"], operator.headers, data)
    assert await media_rows(app) == rows  # the same bytes: the same files, one row each
    assert first.json()["images"] == second.json()["images"]
    # Another node (an empty cache, no disk of its own) serves them from the database.
    runtime = runtime_of(app)
    other_node = MediaStore(runtime.sessions, runtime.settings.var_dir / "elsewhere")
    for size in first.json()["images"][0]["sizes"]:
        name = size["jpeg"].rsplit("/", 1)[1]
        stored = await other_node.read(name)
        served = await client.get(size["jpeg"])
        assert stored is not None and stored.data == served.content and stored.content_type == "image/jpeg"
    assert await other_node.read("../../etc/passwd") is None
    assert (await client.get("/media/drops/0123456789abcdef0123456789abcdef.jpg")).status_code == 404
