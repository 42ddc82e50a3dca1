"""The bots-against-humans report: each drop's fairness ratio, the rounds added up, the noise a fair
draw has at that size (see loadtest/fairness.py)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RoundResult:
    waiting_room: bool
    drop_id: int
    stock: int
    units: int
    bot_units: int
    bots: int
    participants: int
    seconds: float
    answers: dict[str, int]
    late_humans: int = 0
    late_bots: int = 0
    queue: dict[str, int] | None = None

    @property
    def ratio(self) -> float | None:
        if not self.units or not self.bots:
            return None
        return (self.bot_units / self.units) / (self.bots / self.participants)

    def expected_spread(self) -> float | None:
        """One standard deviation of the ratio a fair draw gives (hypergeometric): the noise to expect."""
        n, k, units = self.participants, self.bots, self.units
        if not units or not k or n < 2:
            return None
        p = k / n
        sd_units = math.sqrt(units * p * (1 - p) * (n - units) / (n - 1))
        return sd_units / units / p


def pooled(results: list[RoundResult], waiting_room: bool) -> RoundResult | None:
    """The rounds of one kind added up: one ratio over all their units (less noisy than any one)."""
    mine = [r for r in results if r.waiting_room == waiting_room]
    if len(mine) < 2:
        return None
    return RoundResult(waiting_room, 0, sum(r.stock for r in mine), sum(r.units for r in mine),
                       sum(r.bot_units for r in mine), sum(r.bots for r in mine), sum(r.participants for r in mine),
                       sum(r.seconds for r in mine), {}, late_humans=sum(r.late_humans for r in mine),
                       late_bots=sum(r.late_bots for r in mine))


def render(results: list[RoundResult]) -> str:
    lines = ["", "Fairness: bots' share of units won / bots' share of participants (1.0 is fair)"]
    for r in results:
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}"
        spread = r.expected_spread()
        noise = f" (a fair draw varies by about ±{spread:.2f})" if spread is not None and r.waiting_room else ""
        lines.append(f"  {'with' if r.waiting_room else 'without'} the waiting room: bots won {r.bot_units} of "
                     f"{r.units} units sold ({r.bot_units / max(1, r.units):.1%}); bots are {r.bots} of "
                     f"{r.participants} participants ({r.bots / r.participants:.1%}) -> ratio {ratio}{noise}; "
                     f"{r.seconds:.0f} s")
        if r.waiting_room:
            lines.append(f"    joined after the open (behind the pre-queue): {r.late_humans} humans, "
                         f"{r.late_bots} bots; queue at the end: {r.queue}")
    for waiting_room in (False, True):
        total = pooled(results, waiting_room)
        if total is not None and total.ratio is not None:
            spread = total.expected_spread()
            noise = f" (±{spread:.2f} for a fair draw)" if spread is not None and waiting_room else ""
            lines.append(f"  all rounds {'with' if waiting_room else 'without'} the waiting room: bots won "
                         f"{total.bot_units} of {total.units} units -> ratio {total.ratio:.2f}{noise}")
    return "\n".join(lines)


def as_json(results: list[RoundResult]) -> list[dict[str, Any]]:
    return [{**asdict(r), "ratio": r.ratio, "expected_spread": r.expected_spread()} for r in results]
