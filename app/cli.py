"""The `flashsale` console command."""
from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import shutil
import signal
import sys
from typing import Annotated

import typer

from app.cli_payments import payments_cli
from core.settings import Settings, private_dir

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="flashsale: limited-stock product drops.")
user_cli = typer.Typer(no_args_is_help=True, help="Accounts.")
drops_cli = typer.Typer(no_args_is_help=True, help="Drops.")
cli.add_typer(user_cli, name="user")
cli.add_typer(drops_cli, name="drops")
fcodes_cli = typer.Typer(no_args_is_help=True, help="F-codes.")
cli.add_typer(fcodes_cli, name="fcodes")
cli.add_typer(payments_cli, name="payments")
dev_cli = typer.Typer(no_args_is_help=True, help="Local development tools.")
cli.add_typer(dev_cli, name="dev")


LOADTEST_HINT = ("flashsale loadtest needs the rehearsal tools: pip install 'flashsale[loadtest]' "
                 "(make install has them)")


@cli.command(add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def loadtest(ctx: typer.Context) -> None:
    """Rehearse a drop with Locust; `flashsale loadtest --help` lists its options (needs the loadtest extra)."""
    if importlib.util.find_spec("locust") is None:
        typer.echo(LOADTEST_HINT, err=True)
        raise typer.Exit(2)
    # Its own process: the serving code never imports the load-test tools (locust patches with gevent).
    os.execv(sys.executable, [sys.executable, "-m", "loadtest", *ctx.args])  # noqa: S606 (no shell wanted)


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Personal data (emails, shipping addresses) and secrets travel as SQL parameters: the drivers'
    # logs and SQLAlchemy's engine log (at INFO it prints every statement with its parameters) stay
    # at WARNING whatever the level; so does the local mailbox's per-connection chatter.
    for noisy in ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool", "mail.log"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 (names of "every address", compared, not bound)


def listening_base_url(host: str, port: int) -> str:
    """The base URL of what `flashsale serve` listens on; a wildcard host is named 127.0.0.1."""
    shown = "127.0.0.1" if host in WILDCARD_HOSTS else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _public_base_url(settings: Settings, host: str, port: int) -> str:
    """FLASHSALE_PUBLIC_BASE_URL, or when unset the address served on, handed to the workers through
    the environment: every link, card and image_url then points where this server answers."""
    if settings.public_base_url:
        return settings.base_url
    base = listening_base_url(host, port)
    if host in WILDCARD_HOSTS:
        typer.echo(f"listening on every address: links will use {base}; set FLASHSALE_PUBLIC_BASE_URL to "
                   "the address buyers use")
    os.environ["FLASHSALE_PUBLIC_BASE_URL"] = base
    settings.public_base_url = base
    return base


def _seed_demo(settings: Settings, base_url: str) -> None:
    """A newcomer's first run gets a demo store; its passwords go to this console only, never to a log."""
    from app.demo.seed import describe, seed_demo, should_seed

    if not should_seed(settings):
        return
    store = asyncio.run(seed_demo(settings))
    if store is not None:
        typer.echo(describe(store, base_url))


@cli.command()
def serve(host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
          workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1) -> None:
    """Run the service (uvicorn with uvloop and httptools)."""
    import uvicorn

    from app.dev_mail import start_dev_mail
    from app.dev_payments import start_dev_payments
    from app.messages_process import start_messages_process
    from app.server import BODY_TIMEOUT_ENV, HEAD_TIMEOUT_ENV, server_options
    from core.embedded_redis import EmbeddedRedis
    from core.migrate import upgrade

    settings = Settings()
    _logging(settings)
    private_dir(settings.var_dir)  # the database, Redis's files and the secrets live under it
    base_url = _public_base_url(settings, host, port)
    embedded = None
    if not settings.redis_url:
        # One embedded server for all workers; they find it through the environment.
        embedded = EmbeddedRedis(settings.var_dir / "redis")
        os.environ["FLASHSALE_REDIS_URL"] = embedded.start()
        typer.echo(f"embedded Redis on {embedded.url} (data in {embedded.data_dir})")
    payments = start_dev_payments(settings, base_url, typer.echo)
    mail = start_dev_mail(settings, typer.echo)
    messages = None
    try:
        if settings.is_sqlite:
            upgrade(settings)
        _seed_demo(settings, base_url)
        if workers > 1:
            metrics_dir = (settings.var_dir / "prometheus").resolve()
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        typer.echo(f"flashsale serving on {listening_base_url(host, port)}  (API docs: {base_url}/docs)")
        # uvicorn re-raises SIGTERM after its graceful shutdown, which would end the process before
        # the `finally` below stops the embedded server: make it a clean exit instead.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        # The workers read the head timeout from the environment (see app/server.py).
        os.environ[HEAD_TIMEOUT_ENV] = str(settings.http_header_timeout_seconds)
        os.environ[BODY_TIMEOUT_ENV] = str(settings.http_body_timeout_seconds)
        messages = start_messages_process(Settings())  # after the environment above is complete
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=settings.log_level, **server_options(settings.http_keep_alive_seconds))
    finally:
        if messages is not None:
            messages.stop()
        if payments is not None:
            payments.stop()
        if mail is not None:
            mail.stop()
        if embedded is not None:
            embedded.stop()


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest version."""
    from core.migrate import upgrade

    settings = Settings()
    upgrade(settings)
    typer.echo("database at the newest schema")


@cli.command()
def worker() -> None:
    """Run the order sink and the expiry sweeper without the web server."""
    from app.bootstrap import running
    from core.migrate import upgrade

    settings = Settings()
    _logging(settings)
    if not settings.redis_url:
        # An embedded server of its own would be a different Redis from the web workers'.
        typer.echo("flashsale worker needs FLASHSALE_REDIS_URL (the Redis the web workers use)", err=True)
        raise typer.Exit(2)
    if settings.is_sqlite:
        upgrade(settings)

    async def main() -> None:
        async with running(settings, background=True):
            typer.echo("flashsale worker running (order sink, expiry sweeper); Ctrl-C stops it")
            await asyncio.Event().wait()

    asyncio.run(main())


@cli.command()
def messages() -> None:
    """Run the message loops (drop openings, the outbox's sender) without the web server; `flashsale
    serve` starts one of these beside its workers."""
    from app.messages_process import run_messages

    settings = Settings()
    _logging(settings)
    if not settings.redis_url:
        typer.echo("flashsale messages needs FLASHSALE_REDIS_URL (the Redis the web workers use)", err=True)
        raise typer.Exit(2)
    run_messages(settings)


@cli.command()
def reconcile(drop: Annotated[int | None, typer.Option(help="Only this drop.")] = None,
              fix: Annotated[bool, typer.Option(help="Repair the differences.")] = False) -> None:
    """Compare Redis and SQL per drop; with --fix, merge both ways."""
    from app.bootstrap import running
    from sale.reconcile import reconcile as run_reconcile

    settings = Settings()

    async def main() -> int:
        async with running(settings, background=False) as services:
            runtime = services.runtime
            return await run_reconcile(runtime.sessions, runtime.clock, services.inventory, services.loader, drop,
                                       fix, typer.echo)

    raise typer.Exit(asyncio.run(main()))


@user_cli.command("create")
def user_create(email: Annotated[str, typer.Option()], password: Annotated[str, typer.Option()],
                role: Annotated[str, typer.Option(help="shopper, employee or operator")] = "shopper",
                display_name: Annotated[str | None, typer.Option()] = None) -> None:
    """Create an account with any role (this is how the first operator exists)."""
    from pydantic import TypeAdapter, ValidationError

    from accounts.models import Role
    from accounts.schemas import RegisterIn
    from accounts.service import create_user
    from core.db import make_engine, make_sessionmaker
    from core.errors import DomainError
    from core.migrate import upgrade

    settings = Settings()
    try:
        body = TypeAdapter(RegisterIn).validate_python(
            {"email": email, "password": password, "display_name": display_name})
        chosen = Role(role)
    except (ValidationError, ValueError) as exc:
        typer.echo(f"invalid input: {exc}", err=True)
        raise typer.Exit(2) from exc
    if settings.is_sqlite:
        upgrade(settings)

    async def main() -> int:
        engine = make_engine(settings)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                user = await create_user(session, str(body.email), body.password, chosen, body.display_name)
                typer.echo(f"created {chosen.value} #{user.id}")
            return 0
        except DomainError as exc:
            typer.echo(f"{exc.code}: {exc.detail}", err=True)
            return 1
        finally:
            await engine.dispose()

    raise typer.Exit(asyncio.run(main()))


@drops_cli.command("schedule")
def drops_schedule(sku: Annotated[str, typer.Option()], name: Annotated[str, typer.Option()],
                   price_cents: Annotated[int, typer.Option()], stock: Annotated[int, typer.Option()],
                   currency: Annotated[str, typer.Option()] = "CNY",
                   weeks: Annotated[int, typer.Option(min=1, max=104)] = 4,
                   priority_minutes: Annotated[int, typer.Option(min=0)] = 0,
                   per_user_limit: Annotated[int, typer.Option(min=1)] = 1,
                   duration_minutes: Annotated[int, typer.Option(min=1)] = 60) -> None:
    """Create the next N weekly drops of a SKU at the configured weekday and time."""
    from pydantic import TypeAdapter, ValidationError

    from core.types import ProductName, Sku
    from sale.admin.weekly import WeeklyDrops, schedule_weekly

    try:  # the same rules as the API's (no control or bidirectional formatting characters)
        sku, name = TypeAdapter(Sku).validate_python(sku), TypeAdapter(ProductName).validate_python(name)
    except ValidationError as exc:
        typer.echo(f"invalid input: {exc.errors(include_url=False)[0]['msg']}", err=True)
        raise typer.Exit(2) from exc
    plan = WeeklyDrops(sku=sku, name=name, price_cents=price_cents, stock=stock, currency=currency, weeks=weeks,
                       priority_minutes=priority_minutes, per_user_limit=per_user_limit,
                       duration_minutes=duration_minutes)
    created = asyncio.run(schedule_weekly(Settings(), plan))
    for drop in created:
        typer.echo(f"drop #{drop.id} {drop.sku} starts {drop.starts_at.isoformat()}")


@fcodes_cli.command("issue")
def fcodes_issue(
        month: Annotated[str | None, typer.Option(help="YYYY-MM; default: this month in the zone.")] = None,
        sku: Annotated[str | None, typer.Option(help="Bind the new codes to one SKU.")] = None) -> None:
    """Mint the month's F-code allotment for every employee who does not have it yet (idempotent)."""
    from app.bootstrap import running
    from audit.schemas import CONSOLE
    from core.errors import DomainError
    from core.migrate import upgrade

    settings = Settings()
    if settings.is_sqlite:
        upgrade(settings)

    async def main() -> int:
        async with running(settings, background=False) as services:
            try:
                result = await services.fcodes.issue(month, sku, actor=CONSOLE)
            except DomainError as exc:
                typer.echo(f"{exc.code}: {exc.detail}", err=True)
                return 1
            typer.echo(f"issued {result.issued} F-codes for {result.month}")
            return 0

    raise typer.Exit(asyncio.run(main()))


@dev_cli.command("payments")
def dev_payments(
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        stripe_port: Annotated[int, typer.Option(min=0, max=65535, help="The fake Stripe API's port.")] = 12111,
        alipay_port: Annotated[int, typer.Option(min=0, max=65535, help="The fake Alipay gateway's port.")] = 12112,
        webhook_url: Annotated[str, typer.Option(help="Where the fake Stripe posts its events.")] =
        "http://127.0.0.1:8000/api/payments/stripe/webhook") -> None:
    """Run a fake Stripe API and a fake Alipay gateway (keys under VAR_DIR/payments); prints the settings."""
    from fakes.keys import dev_keys
    from fakes.server import serve_until_interrupted

    settings = Settings()
    if settings.env == "production":
        typer.echo("flashsale dev payments is for development: FLASHSALE_ENV is production", err=True)
        raise typer.Exit(2)
    _logging(settings)
    keys = dev_keys(private_dir(settings.var_dir) / "payments")
    serve_until_interrupted(keys, host=host, stripe_port=stripe_port, alipay_port=alipay_port,
                            stripe_webhook_url=webhook_url or None, echo=typer.echo)


def main() -> None:
    from pydantic import ValidationError

    try:
        cli()
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        # Wrong FLASHSALE_* settings: say which, without a traceback or the values (they may be secrets).
        for error in exc.errors(include_input=False):
            field = "_".join(str(part) for part in error["loc"]).upper()
            name = f"FLASHSALE_{field}" if field else "settings"
            typer.echo(f"invalid {name}: {error['msg']}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
