"""A buyer's purchase attempts per second are limited (FLASHSALE_PURCHASE_RATE_PER_SECOND), counted in
Redis inside the purchase script (the buyer's rate window sits beside their units in the drop's buyers
hash), so every app node and worker shares the count."""
from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from app.main import create_app
from core.clock import ManualClock
from core.settings import Settings
from tests.support import create_drop, is_problem, make_account, make_accounts


async def test_attempts_over_the_rate_get_429_with_retry_after(settings: Settings) -> None:
    clock = ManualClock()  # the rate window is the clock's second: time stands still until stepped
    app = create_app(settings.model_copy(update={"run_background": False, "purchase_rate_per_second": 3}),
                     clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport,
                                                                   base_url="http://testserver") as client:
        operator = await make_account(app, "operator")
        hasty, calm = await make_accounts(app, 2)
        drop = await create_drop(client, operator, stock=100, per_user_limit=50)
        url = f"/api/drops/{drop['id']}/purchase"
        answers = await asyncio.gather(*(client.post(url, json={"quantity": 1}, headers=hasty.headers)
                                         for _ in range(10)))
        statuses = Counter(a.status_code for a in answers)
        # Ten at once, all within one second: three pass, the rest are refused.
        assert (statuses[201], statuses[429]) == (3, 7), statuses
        refused = next(a for a in answers if a.status_code == 429)
        assert is_problem(refused, 429, "rate_limited") and int(refused.headers["Retry-After"]) >= 1
        # Another buyer has a window of their own.
        assert (await client.post(url, json={"quantity": 1}, headers=calm.headers)).status_code == 201
        clock.advance(1.1)
        assert (await client.post(url, json={"quantity": 1}, headers=hasty.headers)).status_code == 201
        stats = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
        assert stats["rejected"].get("rate_limited") == statuses[429]
        assert stats["attempts"] == 12
