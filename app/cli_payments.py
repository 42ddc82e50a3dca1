"""`flashsale payments ...`: the providers' records against the orders."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from core.settings import Settings

payments_cli = typer.Typer(help="Payments at the providers (Stripe, Alipay).", no_args_is_help=True)


@payments_cli.command("reconcile")
def payments_reconcile(
        since: Annotated[str | None, typer.Option(help="ISO 8601 time; default: the last 7 days.")] = None,
        fix: Annotated[bool, typer.Option(help="Mend what a notice would have: pay, refund, close.")] = False,
) -> None:
    """List every difference between the providers' payments and the orders (exit 1 while any is left)."""
    from app.bootstrap import running
    from sale.payments.reconcile import PaymentReconciler

    try:
        start = datetime.fromisoformat(since) if since else datetime.now(UTC) - timedelta(days=7)
    except ValueError as exc:
        typer.echo(f"invalid --since: {since!r} is not an ISO 8601 time", err=True)
        raise typer.Exit(2) from exc
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    settings = Settings()

    async def main() -> int:
        async with running(settings, background=False) as services:
            if not services.payments.providers:
                typer.echo("no payment provider is configured (FLASHSALE_STRIPE_*, FLASHSALE_ALIPAY_*)")
                return 0
            reconciler = PaymentReconciler(services.payments, services.lookup, services.runtime.sessions)
            return await reconciler.run(start, fix, typer.echo)

    raise typer.Exit(asyncio.run(main()))
