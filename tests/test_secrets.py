"""No secret in the source: a development run makes its own on first start, under the var
directory, readable by its owner only; production refuses to start without them."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

import core.settings
from core.settings import Settings
from core.tokens import TokenService


def test_development_makes_random_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    first = Settings(env="development", var_dir=tmp_path / "a")
    again = Settings(env="development", var_dir=tmp_path / "a")
    other = Settings(env="development", var_dir=tmp_path / "b")
    assert len(first.jwt_secret) >= 32 and len(first.secret_key) >= 32
    assert first.jwt_secret != first.secret_key
    assert (again.jwt_secret, again.secret_key) == (first.jwt_secret, first.secret_key)  # kept across starts
    assert other.jwt_secret != first.jwt_secret and other.secret_key != first.secret_key
    for name in ("jwt_secret", "secret_key"):
        path = tmp_path / "a" / "secrets" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A token minted with another checkout's secret is worthless here.
    token, _ = TokenService(other).issue(1, "operator")
    with pytest.raises(Exception, match="Invalid token"):
        TokenService(first).verify(token)


def test_explicit_secrets_win_and_are_not_written(tmp_path: Path) -> None:
    settings = Settings(env="development", var_dir=tmp_path, jwt_secret="j" * 40, secret_key="s" * 40)
    assert (settings.jwt_secret, settings.secret_key) == ("j" * 40, "s" * 40)
    assert not (tmp_path / "secrets").exists()


@pytest.mark.neutral  # `flashsale` processes on a fresh directory: the same in every pass
def test_workers_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    code = ("import sys; from core.settings import Settings; "
            "print(Settings(env='development', var_dir=sys.argv[1]).jwt_secret)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    secrets = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(secrets) == 1 and len(secrets.pop()) >= 32


def test_no_secret_value_in_the_source() -> None:
    source = Path(core.settings.__file__).read_text(encoding="utf-8")
    assert "jwt_secret: str = \"\"" in source
    assert all(len(default) < 16 for default in (Settings.model_fields["jwt_secret"].default,
                                                 Settings.model_fields["secret_key"].default))


def test_production_needs_both_secrets(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(env="production", var_dir=tmp_path, secret_key="k" * 40)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(env="production", var_dir=tmp_path, jwt_secret="j" * 40)


@pytest.mark.parametrize("value", ["Production", "prod", "dev", "PRODUCTION", ""])
def test_env_is_development_or_production_and_nothing_else(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValidationError, match="'development' or 'production'"):
        Settings(env=value, var_dir=tmp_path, jwt_secret="j" * 40, secret_key="s" * 40)  # type: ignore[arg-type]


@pytest.mark.neutral  # refused before it connects to anything
def test_a_misspelt_env_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "FLASHSALE_ENV": "Production", "FLASHSALE_VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "invalid FLASHSALE_ENV" in done.stderr and "'development' or 'production'" in done.stderr, done.stderr
    assert not (tmp_path / "secrets").exists()  # nothing made, nothing seeded


def test_the_var_directory_and_its_files_are_private(tmp_path: Path) -> None:
    import asyncio

    from sqlalchemy import text

    from core.db import make_engine
    from core.embedded_redis import EmbeddedRedis

    var = tmp_path / "var"
    settings = Settings(env="development", var_dir=var)
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)  # noqa: E731
    assert mode(var) == 0o700 and mode(var / "secrets") == 0o700

    async def touch_database() -> None:
        engine = make_engine(settings)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        await engine.dispose()

    asyncio.run(touch_database())
    assert mode(var / "flashsale.db") == 0o600
    server = EmbeddedRedis(var / "redis")
    server.start()
    try:
        import redis

        redis.Redis.from_url(server.url).set("k", "v")
    finally:
        server.stop()
    files = [path for path in (var / "redis").rglob("*")]
    assert files and all(mode(path) == (0o700 if path.is_dir() else 0o600) for path in files), \
        {str(path): oct(mode(path)) for path in files}
    assert mode(var / "redis") == 0o700
