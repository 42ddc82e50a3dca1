"""Serves the media directory (product pictures) at /media: content-hash names, cached for good."""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from core.settings import Settings
from sale.images.store import MEDIA_PATH

IMMUTABLE = "public, max-age=31536000, immutable"


class _MediaFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = IMMUTABLE  # a file's name is its content's hash
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_media(app: FastAPI, settings: Settings) -> None:
    root = settings.media_root
    root.mkdir(parents=True, exist_ok=True)
    app.mount(MEDIA_PATH, _MediaFiles(directory=root, check_dir=False), name="media")
