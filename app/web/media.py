"""Serves stored product pictures at /media/drops/{name}: from the database or the S3-compatible store
(every node reads them, see sale/images/store.py), content-hash names, cached for good."""
from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from sale.images.store import CACHE_CONTROL, DROPS, MEDIA_PATH


async def media_file(request: Request) -> Response:
    name = request.path_params["name"]
    headers = {"X-Content-Type-Options": "nosniff"}
    stored = await request.app.state.services.images.store.read(name)
    if stored is None:
        return Response(b"Not Found", status_code=404, media_type="text/plain", headers=headers)
    etag = f'"{name.split(".")[0]}"'
    headers.update({"Cache-Control": CACHE_CONTROL, "ETag": etag})
    if etag in {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(stored.data, media_type=stored.content_type, headers=headers)


def mount_media(app: FastAPI) -> None:
    app.add_route(f"{MEDIA_PATH}/{DROPS}/{{name}}", media_file, methods=["GET", "HEAD"], include_in_schema=False)
