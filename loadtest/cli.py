"""The `flashsale loadtest` command (registered in app/cli.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def loadtest(
    host: Annotated[str | None, Opt(help="Base URL of a running server. Default: start one on the embedded "
                                         "defaults in a temporary directory (flashsale serve).")] = None,
    operator_email: Annotated[str | None, Opt(help="Operator account on --host.")] = None,
    operator_password: Annotated[str | None, Opt(envvar="FLASHSALE_LOADTEST_OPERATOR_PASSWORD",
                                                 help="Its password (better from the environment).")] = None,
    stock: Annotated[int, Opt(min=0, help="Units in the drop (0: 5,000; with --bots, half the participants).")] = 0,
    units_per_second: Annotated[float, Opt(min=0.1, help="Purchases attempted per second.")] = 200.0,
    duration: Annotated[float, Opt(min=1, help="Seconds of buying from the open.")] = 30.0,
    buyers: Annotated[int, Opt(min=0, help="Buyer accounts (0: enough for the whole stock).")] = 0,
    per_user_limit: Annotated[int, Opt(min=1)] = 1,
    pay_window: Annotated[int, Opt(min=1, help="The drop's pay_window_seconds.")] = 15,
    lead: Annotated[float, Opt(min=2, help="Seconds from creating the drop to its open.")] = 5.0,
    fcode_holders: Annotated[int, Opt(min=0, help="Employees claiming and using F-codes in the priority "
                                                  "window (0: scenario off).")] = 0,
    priority_minutes: Annotated[int, Opt(min=1, help="Priority window when --fcode-holders > 0.")] = 1,
    friends: Annotated[int, Opt(min=0, help="Users opening share links and buying with ref (0: off).")] = 0,
    browsers: Annotated[int, Opt(min=0, help="Users refreshing GET /api/drops.")] = 10,
    cancel_ratio: Annotated[float, Opt(min=0, max=1, help="Buyers who cancel after buying.")] = 0.05,
    leave_ratio: Annotated[float, Opt(min=0, max=1, help="Buyers who never pay.")] = 0.05,
    processes: Annotated[int, Opt(min=1, help="Locust worker processes (Locust's --processes; master "
                                              "aggregates).")] = 1,
    server_workers: Annotated[int, Opt(min=1, help="Workers of the server started here.")] = 2,
    accounts: Annotated[str, Opt(help="auto | api | seed: how buyer accounts are made (auto: seed for the "
                                      "server started here, api for --host).")] = "auto",
    report_dir: Annotated[Path, Opt(help="For Locust's HTML, CSVs, summary.json.")] = Path("var/loadtest"),
    tolerance: Annotated[float, Opt(min=0, max=1, help="Fail below this share of the target rate "
                                                       "(0: no rate check).")] = 0.9,
    max_p99_ms: Annotated[float, Opt(min=0, help="Fail above this purchase p99 (0: report only).")] = 0.0,
    database_url: Annotated[str | None, Opt(help="For --host: the server's database, for the SQL checks "
                                                 "(default FLASHSALE_DATABASE_URL).")] = None,
    profile: Annotated[bool, Opt(help="py-spy flame graphs of the server's workers (own server).")] = False,
    bots: Annotated[int, Opt(min=0, help="Scripted buyers against --buyers humans (default 500): the same "
                                         "crowd meets a drop without and one with the waiting room; reports "
                                         "the fairness ratio of each (0: the throughput rehearsal).")] = 0,
    rounds: Annotated[int, Opt(min=1, help="--bots: pairs of drops (without and with the room) to run; the "
                                           "report adds them up (a fair draw's noise shrinks).")] = 1,
    admit_per_second: Annotated[int, Opt(min=0, help="The waiting room's rate in the --bots runs (0: the stock "
                                                     "over 15 s, slower than people react).")] = 0,
    provider: Annotated[str, Opt(help="test | stripe | alipay: stripe and alipay pay through their local "
                                      "stand-ins, whose signed notices arrive 0-5 s late, 5% twice, 2% out of "
                                      "order (own server only).")] = "test",
    variants: Annotated[int, Opt(min=0, max=20, help="Variants of the drop, the stock split across them; each buyer "
                                                   "chooses one still on sale (0: a drop without "
                                                   "variants).")] = 0,
    max_notice_p99_ms: Annotated[float, Opt(min=0, help="--provider: fail above this p99 of the service's "
                                                        "answers to the provider's notices.")] = 50.0,
    draw: Annotated[bool, Opt(help="Rehearse a draw: --buyers accounts (default 1,000) enter through the API, "
                                   "the draw is made --lead s later, ranks are recomputed, winners and backups "
                                   "buy (--leave-ratio of them walk away); --stock units (default buyers / 5).")]
    = False,
) -> None:
    """Rehearse a drop with Locust: provision, rush, verify the invariants, report; non-zero on a failure."""
    from loadtest.runner import Options, UsageError, run

    if not stock:
        stock = (bots + (buyers or 500)) // 2 if bots else (buyers or 1000) // 5 if draw else 5000
    admit_per_second = admit_per_second or max(1, round(stock / 15))
    options = Options(host=host, operator_email=operator_email, operator_password=operator_password,
                      stock=stock, units_per_second=units_per_second, duration=duration, buyers=buyers,
                      per_user_limit=per_user_limit, pay_window=pay_window, lead=lead,
                      fcode_holders=fcode_holders, priority_minutes=priority_minutes, friends=friends,
                      browsers=browsers, cancel_ratio=cancel_ratio, leave_ratio=leave_ratio,
                      processes=processes, server_workers=server_workers, accounts=accounts,
                      report_dir=report_dir, tolerance=tolerance, max_p99_ms=max_p99_ms,
                      database_url=database_url, profile=profile, bots=bots, admit_per_second=admit_per_second,
                      rounds=rounds, provider=provider, max_notice_p99_ms=max_notice_p99_ms,
                      variants=variants, draw=draw)
    try:
        code = run(options, typer.echo)
    except UsageError as exc:
        typer.echo(f"usage: {exc}", err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(code)
