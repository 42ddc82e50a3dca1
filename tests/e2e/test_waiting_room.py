"""A shopper in the waiting room: joins in the pre-queue by solving the ALTCHA challenge in the browser
(the widget shipped with the app, no CDN), watches the place and the progress bar move (polled every
1-2 s with jitter), and gets the buy button on admission."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import altcha
from playwright.sync_api import expect

from tests.e2e.helpers import Server, iso, register, shoot, sign_in, token_of, unique_email

POLL_WATCH = """
window.__queueSteps = [];  // the queue poller's steps, in order: ["poll"] as it asks, ["wait", ms] as it schedules
var originalFetch = window.fetch;
window.fetch = function (input, init) {
  var url = typeof input === "string" ? input : input.url;
  var method = (init && init.method) || "GET";
  if (/\\/api\\/drops\\/[^/]+\\/queue$/.test(url) && method === "GET") window.__queueSteps.push(["poll"]);
  return originalFetch.apply(this, arguments);
};
var originalSetTimeout = window.setTimeout;
window.setTimeout = function (callback, delay) {
  // queue.js schedules its next poll as setTimeout(refresh, ms), the function it exports as FS.queue.refresh.
  if (window.FS && window.FS.queue && callback === window.FS.queue.refresh) window.__queueSteps.push(["wait", delay]);
  return originalSetTimeout.apply(window, arguments);
};
"""


def join_by_script(server: Server, drop_id: int) -> str:
    """Someone else in the pre-queue, solving the challenge the way a script does."""
    token = server.api.register(unique_email("rival"))
    challenge = altcha.Challenge.from_dict(server.api.call("GET", f"/api/drops/{drop_id}/queue/challenge", token))
    solution = altcha.solve_challenge(challenge)
    assert solution is not None
    payload = altcha.Payload(challenge, solution).to_base64()
    server.api.call("POST", f"/api/drops/{drop_id}/queue", token, json={"altcha": payload})
    return token


def test_shopper_joins_the_pre_queue_waits_in_line_and_buys_when_admitted(server: Server, browse: Any) -> None:
    api, operator_token = server.api, server.operator[1]
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    drop = api.create_drop(operator_token, name="Redmi K80 Waiting Room", stock=5, starts_at=iso(opens),
                           ends_at=iso(opens + timedelta(hours=1)), waiting_room=True, challenge=True,
                           prequeue_minutes=10, admit_per_second=1)
    rivals = [join_by_script(server, drop["id"]) for _ in range(3)]

    buyer = browse("buyer")
    buyer.context.add_init_script(POLL_WATCH)
    register(buyer, unique_email("queuer"), next_path=f"/drops/{drop['id']}")
    expect(buyer.locator("#queue")).to_be_visible()
    expect(buyer.locator("#buy")).to_have_text("Opens " + buyer.evaluate(
        "(ms) => FS.ui.fmtTime(ms)", opens.timestamp() * 1000))
    join = buyer.locator("#queue-join")
    expect(join).to_be_enabled()
    join.click()
    # The widget solves the proof of work in the browser, then the page joins with its payload.
    expect(buyer.locator("#queue-status")).to_contain_text("Places are drawn at random", timeout=20_000)
    shoot(buyer, "queue-prequeue")
    assert datetime.now(UTC) < opens, "joining took longer than the lead time: raise it"
    token = token_of(buyer)
    ticket = api.call("GET", f"/api/drops/{drop['id']}/queue", token)
    assert ticket["status"] == "waiting" and ticket["position"] is None

    # After the draw: a place among four, a progress bar, and the button waits for the turn.
    # (Drawn first, the shopper may be let in before the page's next poll shows a place.)
    expect(buyer.locator("#queue-status")).to_contain_text(re.compile("You're in line|It's your turn"),
                                                           timeout=20_000)
    if buyer.locator("#queue-place").is_visible():
        # Of those still waiting: a rival drawn ahead may be let in (1 a second) before the page's poll.
        expect(buyer.locator("#queue-place")).to_contain_text(re.compile(r"Place \d of [34]\b"))
        expect(buyer.locator("#buy")).to_have_text("Wait for your turn")
        shoot(buyer, "queue-waiting")
    for rival in rivals:  # the others keep polling, as their pages would
        api.call("GET", f"/api/drops/{drop['id']}/queue", rival)
    expect(buyer.locator("#buy")).to_have_text("Buy now", timeout=15_000)
    expect(buyer.locator("#queue-status")).to_contain_text("It's your turn")
    shoot(buyer, "queue-admitted")
    # How often the page polls, from what it scheduled rather than from wall-clock gaps (a busy
    # machine runs timers and answers late): after every answer it set the next poll 1-2 s out,
    # jittered, and every poll it set did go out, until it was admitted.
    steps = buyer.evaluate("() => window.__queueSteps")
    waits = [step[1] for step in steps if step[0] == "wait"]
    assert len(waits) >= 5, steps
    assert all(1000 <= ms <= 2000 for ms in waits), waits
    assert len({round(ms / 50) for ms in waits}) > 2, waits  # jittered, not a fixed beat
    beats = "".join("w" if step[0] == "wait" else "p" for step in steps)
    assert "ww" not in beats and "pp" not in beats, beats  # no poll dropped, none outside the beat
    buyer.locator("#buy").click()
    expect(buyer.locator("#buy-msg")).to_contain_text("Reserved 1 unit")
    expect(buyer.locator("#queue-status")).to_contain_text("used your turn", timeout=5000)
    # The order as the buyer's "Pay now" link names it (read from Redis: SQL gets it a moment later).
    pay_link = buyer.locator("#buy-msg").get_by_role("link", name="Pay now").get_attribute("href") or ""
    order = api.call("GET", "/api/orders/" + pay_link.rsplit("#order-", 1)[-1], token)
    assert order["drop_id"] == drop["id"] and order["status"] == "reserved" and order["quantity"] == 1


def test_operator_creates_a_waiting_room_drop_watches_the_line_and_changes_the_rate(
        server: Server, browse: Any) -> None:
    api = server.api
    crowd = [api.register(unique_email("line")) for _ in range(4)]
    ops = browse("operator")
    sign_in(ops, server.operator[0], next_path="/ops")
    now = datetime.now(UTC).replace(microsecond=0)
    sku = f"WR-{uuid.uuid4().hex[:6].upper()}"
    ops.fill("#c-sku", sku)
    ops.fill("#c-name", "Xiaomi 15 Waiting Room")
    ops.fill("#c-price", "599.00")
    ops.fill("#c-stock", "50")
    ops.fill("#c-starts", (now + timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%S"))
    ops.fill("#c-ends", (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    ops.check("#c-waiting")
    ops.uncheck("#c-challenge")
    ops.fill("#c-prequeue", "5")
    ops.fill("#c-admit", "1")
    ops.get_by_role("button", name="Create drop").click()
    expect(ops.locator("#create-msg")).to_contain_text("Created drop #")
    drop = next(d for d in api.http.get("/api/drops").json() if d["sku"] == sku)
    assert (drop["waiting_room"], drop["challenge"], drop["prequeue_minutes"], drop["admit_per_second"]) == (
        True, False, 5, 1)

    for token in crowd:
        api.call("POST", f"/api/drops/{drop['id']}/queue", token, json={})
    expect(ops.locator("#live-queue")).to_be_visible()
    expect(ops.locator("#q-waiting")).to_have_text("4")
    expect(ops.locator("#q-rate")).to_have_text("1")
    assert datetime.now(UTC) < now + timedelta(seconds=8), "the line moved before it was seen: raise the lead"
    ops.fill("#rate", "20")
    ops.get_by_role("button", name="Change the rate").click()
    expect(ops.locator("#rate-msg")).to_contain_text("Now admitting 20 a second")
    assert api.http.get(f"/api/drops/{drop['id']}").json()["admit_per_second"] == 20
    for token in crowd:  # pollers keep their places alive while the meter admits them
        api.call("GET", f"/api/drops/{drop['id']}/queue", token)
    expect(ops.locator("#q-admitted")).to_have_text("4", timeout=15_000)
    expect(ops.locator("#q-waiting")).to_have_text("0")
    shoot(ops, "ops-waiting-room")
