"""Start-up of share links: the view counter script, and the service the sale's hooks call."""
from __future__ import annotations

from core.runtime import Runtime
from sale.share.service import ShareService


async def setup_share(runtime: Runtime) -> None:
    count_view = runtime.scripts.add("sale.share", "share_view.lua")
    await count_view.load(runtime.redis)
    runtime.services["share"] = ShareService(runtime, runtime.services["sale"], count_view)
