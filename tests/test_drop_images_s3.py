"""Pictures in an S3-compatible store (FLASHSALE_S3_ENDPOINT_URL): an upload through the API is one object
per content-hash name in the bucket (checked with a client of our own), served at /media with its content
type and the immutable cache headers, by this node and by another sharing the database and the bucket. A
store that is down or a wrong bucket is 503 `media_store_unavailable`, the drop unchanged. The endpoint is
moto's S3 server on 127.0.0.1 (tests/support/s3.py), reached over HTTP by the app's own client."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from app.main import create_app
from core.settings import Settings
from sale.images.store import CACHE_CONTROL
from tests.support import create_drop, is_problem, make_account, runtime_of
from tests.support.s3 import SECRET_ACCESS_KEY, S3Endpoint, closed_port, s3_server
from tests.test_drop_gallery import add, media_rows
from tests.test_drop_images import picture, upload

BUCKET = "flashsale-pictures"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Endpoint]:
    with s3_server() as endpoint:
        endpoint.make_bucket(BUCKET)
        yield endpoint


@asynccontextmanager
async def node(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app instance of its own (own var dir, cold cache) and a client of it."""
    application = create_app(settings)
    async with application.router.lifespan_context(application), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://testserver", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def bucket_node(s3: S3Endpoint, settings: Settings,
                      tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with node(s3.settings(settings, BUCKET, var_dir=tmp_path_factory.mktemp("s3node"))) as client:
        yield client


def names_of(drop: dict[str, object]) -> dict[str, str]:
    """Every stored file a drop shows: name -> its /media path."""
    return {url.rsplit("/", 1)[1]: url for picture in drop["images"]  # type: ignore[attr-defined]
            for size in picture["sizes"] for url in (size["jpeg"], size["webp"])}


async def test_an_upload_lands_in_the_bucket_and_is_served_for_good(
        app: FastAPI, s3: S3Endpoint, bucket_node: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(bucket_node, operator)
    rows = await media_rows(app)
    response = await upload(bucket_node, drop["id"], operator.headers, picture("PNG", (1600, 1200)))
    assert response.status_code == 200, response.text
    names = names_of(response.json())
    assert len(names) == 6  # 400, 800 and 1200 px, each as WebP and JPEG
    objects = s3.objects(BUCKET)
    assert {f"drops/{name}" for name in names} <= set(objects)
    assert await media_rows(app) == rows  # nothing in the database's media_files
    for name, url in names.items():
        content_type, cache_control, data = objects[f"drops/{name}"]
        assert content_type == ("image/webp" if name.endswith(".webp") else "image/jpeg")
        assert cache_control == CACHE_CONTROL
        served = await bucket_node.get(url)
        assert served.status_code == 200 and served.content == data
        assert served.headers["content-type"] == content_type
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["etag"] == f'"{name.split(".")[0]}"'
        assert (await bucket_node.get(url, headers={"If-None-Match": served.headers["etag"]})).status_code == 304


async def test_identical_uploads_are_one_object(app: FastAPI, s3: S3Endpoint,
                                                bucket_node: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    one, two = await create_drop(bucket_node, operator), await create_drop(bucket_node, operator)
    data = picture("JPEG", (900, 600))
    first = await add(bucket_node, one["id"], operator.headers, data)
    assert first.status_code == 201, first.text
    before = s3.objects(BUCKET)
    second = await add(bucket_node, two["id"], operator.headers, data)
    assert second.status_code == 201, second.text
    assert first.json()["images"] == second.json()["images"]
    assert s3.objects(BUCKET) == before  # the same names: the same objects, written over with the same bytes
    assert {f"drops/{name}" for name in names_of(first.json())} <= set(before)


async def test_another_node_serves_what_one_stored(app: FastAPI, client: httpx.AsyncClient, s3: S3Endpoint,
                                                   settings: Settings, bucket_node: httpx.AsyncClient,
                                                   tmp_path: Path) -> None:
    """Two instances sharing the database, Redis and the bucket, each with a var dir of its own: the
    second serves what the first stored, byte for byte with the same headers, and nothing is on a disk.
    Pictures stored in the database before the bucket was configured are still served."""
    operator = await make_account(app, "operator")
    drop = await create_drop(bucket_node, operator)
    uploaded = await add(bucket_node, drop["id"], operator.headers, picture("PNG", (1500, 1000)))
    assert uploaded.status_code == 201, uploaded.text
    # An older picture: stored by a node without the bucket (in the database, not in the bucket).
    older_drop = await create_drop(client, operator)
    objects = s3.objects(BUCKET)
    older = await add(client, older_drop["id"], operator.headers, picture("PNG", (700, 500)))
    assert older.status_code == 201 and s3.objects(BUCKET) == objects  # S3 off: nothing changes
    second_var = tmp_path / "node2"
    async with node(s3.settings(settings, BUCKET, var_dir=second_var)) as node2:
        shown = (await node2.get(f"/api/drops/{drop['id']}")).json()
        assert shown["images"] == uploaded.json()["images"]
        for url in [*names_of(uploaded.json()).values(), *names_of(older.json()).values()]:
            there, here = await node2.get(url), await bucket_node.get(url)
            assert there.status_code == 200 == here.status_code, url
            assert there.content == here.content and len(there.content) > 1000
            assert there.headers["content-type"] == here.headers["content-type"]
            assert there.headers["cache-control"] == here.headers["cache-control"] == CACHE_CONTROL
            assert there.headers["etag"] == here.headers["etag"]
        assert (await node2.get("/media/drops/0123456789abcdef0123456789abcdef.jpg")).status_code == 404
    assert not [p for p in (second_var / "media").rglob("*") if p.is_file()]


@pytest.mark.parametrize("where", ["wrong bucket", "endpoint down"])
async def test_a_store_that_does_not_answer_is_a_clear_503(
        app: FastAPI, s3: S3Endpoint, settings: Settings, bucket_node: httpx.AsyncClient, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, where: str) -> None:
    operator = await make_account(app, "operator")
    stored = await add(bucket_node, (await create_drop(bucket_node, operator))["id"], operator.headers,
                       picture("PNG", (600, 400)))
    assert stored.status_code == 201, stored.text
    broken = (s3.settings(settings, "flashsale-no-such-bucket", var_dir=tmp_path) if where == "wrong bucket" else
              s3.settings(settings, BUCKET, var_dir=tmp_path, s3_endpoint_url=f"http://127.0.0.1:{closed_port()}"))
    objects = s3.objects(BUCKET)
    caplog.set_level(logging.WARNING)
    async with node(broken) as other:
        drop = await create_drop(other, operator)
        response = await upload(other, drop["id"], operator.headers, picture("PNG", (640, 480)))
        assert is_problem(response, 503, "media_store_unavailable"), response.text
        assert int(response.headers["retry-after"]) >= 1
        after = (await other.get(f"/api/drops/{drop['id']}")).json()
        assert after["image_url"] is None and after["images"] == []  # nothing changed
        # A picture this node has not cached: the store must be asked, and does not answer.
        served = await other.get(next(iter(names_of(stored.json()).values())))
        assert is_problem(served, 503, "media_store_unavailable"), served.text
    assert s3.objects(BUCKET) == objects
    assert SECRET_ACCESS_KEY not in caplog.text
    assert any("picture store" in record.getMessage() for record in caplog.records)


def test_settings_need_a_bucket_and_keep_the_secret_out_of_sight(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="FLASHSALE_S3_BUCKET"):
        Settings(var_dir=tmp_path, s3_endpoint_url="http://127.0.0.1:9000")
    with pytest.raises(ValidationError, match="http"):
        Settings(var_dir=tmp_path, s3_endpoint_url="127.0.0.1:9000", s3_bucket="b")
    configured = Settings(var_dir=tmp_path, s3_endpoint_url="http://127.0.0.1:9000", s3_bucket="pictures",
                          s3_secret_access_key=SECRET_ACCESS_KEY)  # type: ignore[arg-type]
    assert SECRET_ACCESS_KEY not in repr(configured) and SECRET_ACCESS_KEY not in str(configured.model_dump())
    assert configured.s3_secret_access_key.get_secret_value() == SECRET_ACCESS_KEY
    assert not Settings(var_dir=tmp_path).s3_endpoint_url  # off by default: pictures in the database


async def test_without_a_bucket_the_database_keeps_the_pictures(app: FastAPI) -> None:
    from sale.images.store import DatabasePictures

    assert not runtime_of(app).settings.s3_endpoint_url
    assert isinstance(app.state.services.images.store.store, DatabasePictures)
    assert app.state.services.images.store.older is None
