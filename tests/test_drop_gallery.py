"""A drop's gallery (API.md "Drops": `images`, POST/DELETE .../images): up to 8 pictures in order, stored
in the database under content-hash names (identical uploads are one row), served by any node."""
from __future__ import annotations

import re
from pathlib import Path

import httpx
import yaml
from fastapi import FastAPI
from sqlalchemy import func, select

from app.main import create_app
from sale.images.store import DatabasePictures, MediaStore
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
    other_node = MediaStore(DatabasePictures(runtime.sessions), runtime.settings.var_dir / "elsewhere")
    for size in first.json()["images"][0]["sizes"]:
        name = size["jpeg"].rsplit("/", 1)[1]
        stored = await other_node.read(name)
        served = await client.get(size["jpeg"])
        assert stored is not None and stored.data == served.content and stored.content_type == "image/jpeg"
    assert await other_node.read("../../etc/passwd") is None
    assert (await client.get("/media/drops/0123456789abcdef0123456789abcdef.jpg")).status_code == 404


async def test_a_picture_uploaded_through_one_node_loads_through_another(
        app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> None:
    """Two app instances on one database and Redis, each with a var dir of its own (the second's empty,
    its cache cold): what the operator uploads through the first, the second serves, byte for byte,
    with the same immutable cache headers; neither wrote a picture to its own disk."""
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator)
    uploaded = await add(client, drop["id"], operator.headers, picture("PNG", (1500, 1000)))
    assert uploaded.status_code == 201, uploaded.text
    first_var = runtime_of(app).settings.var_dir
    other = create_app(runtime_of(app).settings.model_copy(update={"var_dir": tmp_path / "node2",
                                                                   "run_background": False}))
    async with other.router.lifespan_context(other), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://testserver") as node2:
        shown = (await node2.get(f"/api/drops/{drop['id']}")).json()
        assert shown["images"] == uploaded.json()["images"] and shown["image_url"] == uploaded.json()["image_url"]
        page = await node2.get(f"/drops/{drop['id']}")
        assert page.status_code == 200
        urls = [size[kind] for size in shown["images"][0]["sizes"] for kind in ("jpeg", "webp")]
        assert len(urls) >= 4  # the page draws the gallery from `images` (drop.js)
        for url in urls:
            there, here = await node2.get(url), await client.get(url)
            assert there.status_code == 200 == here.status_code, url
            assert there.content == here.content and len(there.content) > 1000
            assert there.headers["content-type"] == here.headers["content-type"]
            assert there.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert there.headers["etag"] == here.headers["etag"]
            assert (await node2.get(url, headers={"If-None-Match": there.headers["etag"]})).status_code == 304
    for var in (first_var, tmp_path / "node2"):  # no node keeps pictures on its own disk
        assert not [p for p in (var / "media").rglob("*") if p.is_file()], var


def test_compose_nodes_keep_nothing_on_their_own_disk() -> None:
    """compose.yaml's two-node profile: the nodes share the database (where pictures live), their
    secrets and VAPID key come from one environment, and their var dir is a tmpfs on a read-only file
    system owned by the image's user (caches only): a picture on one node's disk could not survive."""
    root = Path(__file__).resolve().parents[1]
    services = yaml.safe_load((root / "compose.yaml").read_text())["services"]
    dockerfile = (root / "Dockerfile").read_text()
    uid = re.search(r"useradd .*--uid (\d+)", dockerfile)
    var_dir = re.search(r"FLASHSALE_VAR_DIR=(\S+)", dockerfile)
    assert uid and var_dir
    nodes = [services["app1"], services["app2"]]
    for node in nodes:
        assert node["read_only"] is True and not node.get("volumes")
        assert f"{var_dir.group(1)}:uid={uid.group(1)},gid={uid.group(1)},mode=0700" in node["tmpfs"]
        env = node["environment"]
        assert "FLASHSALE_MEDIA_DIR" not in env and "FLASHSALE_VAR_DIR" not in env
        assert env["FLASHSALE_DATABASE_URL"].startswith("postgresql://")
    shared = ("FLASHSALE_DATABASE_URL", "FLASHSALE_REDIS_URL", "FLASHSALE_JWT_SECRET", "FLASHSALE_SECRET_KEY",
              "FLASHSALE_VAPID_PRIVATE_KEY", "FLASHSALE_PUBLIC_BASE_URL")
    assert all(nodes[0]["environment"][k] == nodes[1]["environment"][k] for k in shared)
