"""Database engine and sessions: made in the lifespan, one transaction per request."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.settings import Settings, private_dir, private_file

# What an unreachable, locked or failing-over database raises: the caller answers 503 or works on
# from Redis; never a 500. (A refused or reset connection surfaces as OSError from the driver.)
DATABASE_DOWN: tuple[type[Exception], ...] = (
    exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError, OSError)


class WriteHealth:
    """Whether this worker's last database write failed: a database that still answers reads but
    refuses writes (locked, read-only, failing over) is down for the order sink all the same."""

    def __init__(self) -> None:
        self.failing_since: float | None = None

    def failed(self) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()

    def succeeded(self) -> None:
        self.failing_since = None

    @property
    def failing(self) -> bool:
        return self.failing_since is not None


def private_sqlite(settings: Settings) -> None:
    """The var directory 0700 and a SQLite database file 0600 before SQLite opens it: SQLite makes
    its -wal and -shm files with the database file's mode, so they follow."""
    private_dir(settings.var_dir)
    database = make_url(settings.async_database_url).database
    if database and database != ":memory:":
        path = Path(database)
        path.parent.mkdir(parents=True, exist_ok=True)  # a directory of the operator's choosing: left as is
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file == path or file.exists():
                private_file(file)


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.async_database_url
    if url.startswith("sqlite"):
        private_sqlite(settings)
        timeout = settings.database_timeout_seconds
        engine = create_async_engine(url, connect_args={"timeout": timeout})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            # WAL lets readers go on while the order sink writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    timeout = settings.database_timeout_seconds
    # Timeouts everywhere: a database that went silent costs a request a few seconds and a 503, not
    # a hang (connect, the pool's wait for a connection, and each statement).
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=timeout,
                               connect_args={"timeout": timeout, "command_timeout": timeout})


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session and one transaction: committed when the request succeeds, rolled back otherwise."""
    async with maker() as session, session.begin():
        yield session
