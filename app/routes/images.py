"""Product pictures of drops (operators). Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from app.deps import DropsDep, OperatorActor
from app.problems import problems
from app.routes.sale import DropId
from sale.images.exceptions import ImageTooLarge
from sale.images.processing import MAX_UPLOAD_BYTES
from sale.schemas import DropOut

router = APIRouter(prefix="/api", tags=["drops"])


@router.put("/admin/drops/{drop_id}/image", response_model=DropOut,
            responses=problems("unauthorized", "forbidden", "drop_not_found", "payload_too_large",
                               "unsupported_image", "validation_error"))
async def upload_drop_image(drop_id: DropId, file: Annotated[UploadFile, File(description="PNG, JPEG or WebP")],
                            actor: OperatorActor, drops: DropsDep) -> DropOut:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageTooLarge(f"Pictures are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    return await drops.upload_image(drop_id, data, actor)
