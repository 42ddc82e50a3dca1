"""Product pictures of drops (operators). Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from app.deps import ImagesDep, OperatorUser, SessionDep
from app.routes.sale import DropId
from sale.images.exceptions import ImageTooLarge
from sale.images.processing import MAX_UPLOAD_BYTES
from sale.schemas import DropOut

router = APIRouter(prefix="/api", tags=["drops"])


@router.put("/admin/drops/{drop_id}/image", response_model=DropOut,
            responses={413: {"description": "payload_too_large: over 5 MB or too many pixels"},
                       415: {"description": "unsupported_image: not a PNG, JPEG or WebP (by content)"}})
async def upload_drop_image(drop_id: DropId, file: Annotated[UploadFile, File(description="PNG, JPEG or WebP")],
                            _: OperatorUser, session: SessionDep, images: ImagesDep) -> DropOut:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageTooLarge(f"Pictures are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    return await images.upload(session, drop_id, data)
