"""The code format, the keyed hash, months in the zone, the schema, and the console command."""
from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import SQLModel, col, select

from codes.crypto import CodeCrypto
from codes.format import ALPHABET, MalformedCode, Problem, canonical, display, new_code
from codes.models import FCode
from codes.months import expiry, month_of
from core.settings import Settings
from tests.support import make_accounts, runtime_of


def test_new_codes_are_long_random_and_check_themselves() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in list(codes)[:200]:
        assert len(code) == 21 and code[0] == "F" and set(code[1:]) <= set(ALPHABET)
        assert canonical(code) == code == canonical(display(code).lower())
        shown = display(code)
        assert len(shown) == 25 and shown.count("-") == 4 and shown.startswith("F")


def test_every_single_typo_and_neighbour_swap_is_caught() -> None:
    code = new_code()
    for position in range(1, len(code)):
        for symbol in ALPHABET:
            if symbol != code[position]:
                typo = code[:position] + symbol + code[position + 1:]
                with pytest.raises(MalformedCode) as caught:
                    canonical(typo)
                assert caught.value.problem is Problem.mistyped
    for position in range(1, len(code) - 1):
        if code[position] != code[position + 1]:
            swapped = code[:position] + code[position + 1] + code[position] + code[position + 2:]
            with pytest.raises(MalformedCode):
                canonical(swapped)


@pytest.mark.parametrize("text", ["", "F", "hello", "F" + "0" * 18, "F" + "0" * 22, "F" + "U" * 20,
                                  "G" + "0" * 20, "F!" + "0" * 19, "x" * 65, "F" + "0" * 20 + "\x00"])
def test_garbage_is_not_a_code(text: str) -> None:
    with pytest.raises(MalformedCode) as caught:
        canonical(text)
    assert caught.value.problem is Problem.garbage


def test_look_alikes_and_separators() -> None:
    while True:
        code = new_code()
        if "1" in code and "0" in code:
            break
    assert canonical(code.replace("1", "i").replace("0", "o")) == code
    assert canonical(code[1:].replace("1", "L")) == code
    assert canonical(" - ".join(display(code).split("-"))) == code
    assert canonical("\t" + code.lower() + " \n") == code


def test_lookup_hash_is_keyed_and_fernet_round_trips() -> None:
    code = new_code()
    one, other = CodeCrypto(b"secret-one" * 4), CodeCrypto(b"secret-two" * 4)
    assert one.lookup_hash(code) == CodeCrypto(b"secret-one" * 4).lookup_hash(code)
    assert one.lookup_hash(code) != other.lookup_hash(code) and len(one.lookup_hash(code)) == 64
    token = one.encrypt(code)
    assert code not in token and one.decrypt(token) == code
    with pytest.raises(Exception):  # noqa: B017 - any failure: the other key cannot read it
        other.decrypt(token)


def test_month_and_expiry_in_the_zone() -> None:
    shanghai, los_angeles = ZoneInfo("Asia/Shanghai"), ZoneInfo("America/Los_Angeles")
    assert month_of(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC), shanghai) == "2026-11"
    assert month_of(datetime(2026, 11, 30, 16, 0, tzinfo=UTC), shanghai) == "2026-12"
    assert month_of(datetime(2026, 12, 1, 7, 59, tzinfo=UTC), los_angeles) == "2026-11"
    assert expiry("2026-11", 1, shanghai) == datetime(2027, 1, 1, tzinfo=shanghai)
    assert expiry("2026-12", 1, shanghai) == datetime(2027, 2, 1, tzinfo=shanghai)
    assert expiry("2026-12", 0, los_angeles) == datetime(2027, 1, 1, tzinfo=los_angeles)


async def test_migration_matches_the_model(app: FastAPI) -> None:
    def differences(connection: object) -> list[object]:
        context = MigrationContext.configure(connection)  # type: ignore[arg-type]
        return [d for d in compare_metadata(context, SQLModel.metadata) if "fcodes" in repr(d)]

    async with runtime_of(app).engine.connect() as connection:
        assert await connection.run_sync(differences) == []


@pytest.mark.slow  # the console command, twice, as processes
async def test_console_issue_is_idempotent(app: FastAPI, settings: Settings) -> None:
    employees = await make_accounts(app, 2, "employee")
    env = {**os.environ, "FLASHSALE_DATABASE_URL": settings.database_url,
           "FLASHSALE_REDIS_URL": settings.redis_url, "FLASHSALE_REDIS_PREFIX": settings.redis_prefix,
           "FLASHSALE_JWT_SECRET": settings.jwt_secret, "FLASHSALE_VAR_DIR": str(settings.var_dir),
           "FLASHSALE_LOG_LEVEL": "warning",
           # the session app's loops write to the same SQLite file: the console may wait longer for its lock
           "FLASHSALE_DATABASE_TIMEOUT_SECONDS": "30"}

    async def flashsale(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from app.cli import main; main()", *args, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        except TimeoutError:
            process.kill()
            raise
        return int(process.returncode or 0), output.decode()

    month = month_of(datetime.now(UTC), settings.zone)
    code, output = await flashsale("fcodes", "issue", "--month", month)
    assert code == 0 and output.startswith("issued ") and f"for {month}" in output, output
    code, output = await flashsale("fcodes", "issue")
    assert code == 0 and output.strip() == f"issued 0 F-codes for {month}", output
    code, output = await flashsale("fcodes", "issue", "--month", "2026-13")
    assert code == 1 and "validation_error" in output, output
    async with runtime_of(app).sessions() as session:
        count = (await session.execute(select(func.count()).where(
            col(FCode.owner_id).in_([e.id for e in employees])))).scalar_one()
    assert count == 4
