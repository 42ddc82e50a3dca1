"""Start-up of the F-code feature: scripts loaded, gate and service made, the record caught up."""
from __future__ import annotations

import logging

from codes.crypto import CodeCrypto
from codes.gate import Gate
from codes.service import FcodeService
from codes.state import CodeState, register_scripts
from codes.sync import CodeSync
from core.runtime import Runtime

log = logging.getLogger("flashsale.fcodes")


async def setup_codes(runtime: Runtime) -> None:
    for script in register_scripts(runtime.scripts):
        await script.load(runtime.redis)
    crypto = CodeCrypto(runtime.settings.app_secret)
    state = CodeState(runtime.redis, runtime.keys, runtime.scripts)
    sync = CodeSync(runtime, state)
    gate = Gate(runtime, crypto, state, sync)
    runtime.services["fcodes"] = gate  # sale.hooks.FcodeGate, used by the purchase path
    runtime.services["fcode_service"] = FcodeService(runtime, crypto, state, sync, gate)
    try:
        await sync.drain()  # changes a stopped worker had not written to SQL yet
    except Exception:
        log.exception("F-code record catch-up at start-up failed; the stats call retries it")
