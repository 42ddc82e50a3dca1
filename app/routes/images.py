"""Product pictures of drops (operators). Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from app.deps import DropsDep, OperatorActor
from app.problems import problems
from app.routes.sale import DropId
from sale.images.exceptions import ImageTooLarge, PictureNotFound
from sale.images.processing import MAX_UPLOAD_BYTES
from sale.schemas import DropOut

router = APIRouter(prefix="/api", tags=["drops"])
Upload = Annotated[UploadFile, File(description="PNG, JPEG or WebP")]


async def _read(file: UploadFile) -> bytes:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageTooLarge(f"Pictures are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    return data


@router.put("/admin/drops/{drop_id}/image", response_model=DropOut,
            responses=problems("unauthorized", "forbidden", "drop_not_found", "payload_too_large",
                               "unsupported_image", "validation_error", "media_store_unavailable"))
async def upload_drop_image(drop_id: DropId, file: Upload, actor: OperatorActor, drops: DropsDep) -> DropOut:
    """The first picture replaced (or set when there is none)."""
    return await drops.upload_image(drop_id, await _read(file), actor)


@router.post("/admin/drops/{drop_id}/images", status_code=201, response_model=DropOut,
             responses=problems("unauthorized", "forbidden", "drop_not_found", "payload_too_large",
                                "unsupported_image", "validation_error", "too_many_pictures",
                                "media_store_unavailable"))
async def add_drop_image(drop_id: DropId, file: Upload, actor: OperatorActor, drops: DropsDep) -> DropOut:
    """A picture added to the end of `images` (at most 8)."""
    return await drops.add_image(drop_id, await _read(file), actor)


@router.delete("/admin/drops/{drop_id}/images/{n}", response_model=DropOut,
               responses=problems("unauthorized", "forbidden", "drop_not_found", "picture_not_found"))
async def delete_drop_image(drop_id: DropId, n: str, actor: OperatorActor, drops: DropsDep) -> DropOut:
    """The drop without the picture at position `n` of `images` (0 is the first)."""
    if not (n.isascii() and n.isdigit() and len(n) <= 2):
        raise PictureNotFound()
    return await drops.remove_image(drop_id, int(n), actor)
