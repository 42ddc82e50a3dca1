"""Settings from FLASHSALE_* environment variables, made once and injected."""
from __future__ import annotations

from datetime import time
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "dev-insecure-secret-change-me-please-0123456789"  # noqa: S105
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLASHSALE_", extra="ignore")

    env: str = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "fs"
    jwt_secret: str = DEFAULT_JWT_SECRET
    # Older secrets, "kid=secret" comma separated: they still verify until removed.
    jwt_old_secrets: str = ""
    jwt_kid: str = "k1"
    jwt_issuer: str = "flashsale"
    jwt_audience: str = "flashsale-api"
    jwt_ttl_seconds: int = 3600
    public_base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Shanghai"
    drop_weekday: str = "tuesday"
    drop_time: time = time(12, 0)
    store_name: str = "flashsale"
    secret_key: str = ""  # HMAC/Fernet key material; derived from jwt_secret when empty
    login_max_failures: int = 10
    login_window_seconds: int = 600
    purchase_rate_per_second: int = 20
    fcodes_per_employee_month: int = 2
    fcode_valid_months: int = 1
    fcode_gift_hours: int = 72
    fcode_max_failures: int = 5
    fcode_failure_window_seconds: int = 600
    max_body_bytes: int = 64 * 1024
    run_background: bool = True  # stream sink and expiry sweeper inside the web worker
    sweep_interval_seconds: float = 0.25
    sink_claim_idle_ms: int = 10_000  # order events pending this long on a dead consumer are claimed
    # After each purchase call, WAIT until this many replicas have its writes (0: answer at once; a
    # failover may then lose the last acknowledged orders). Bounded by redis_wait_timeout_ms.
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 200
    # After a failover (or a restart from disk) a drop pauses this long before SQL is merged back in,
    # so order-sink batches read from the old primary are committed first.
    failover_settle_seconds: float = 1.0
    log_level: str = "info"
    payment_provider: str = "test"
    trusted_proxies: str = Field(default="", description="comma-separated peers whose X-Forwarded-For counts")
    media_dir: Path | None = None  # product pictures; default <var_dir>/media
    demo: bool = True  # seed a demo store on the embedded defaults with an empty database

    @field_validator("drop_weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        if value.lower() not in WEEKDAYS:
            raise ValueError(f"drop_weekday must be one of {', '.join(WEEKDAYS)}")
        return value.lower()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.env == "production" and (not self.jwt_secret or self.jwt_secret == DEFAULT_JWT_SECRET
                                         or len(self.jwt_secret) < 32):
            raise ValueError("FLASHSALE_ENV=production needs FLASHSALE_JWT_SECRET "
                             "(32+ characters, not the default)")
        if self.env == "production" and len(self.secret_key) < 32:
            # F-code lookups and encryption derive from it: it must outlive JWT secret rotations.
            raise ValueError("FLASHSALE_ENV=production needs FLASHSALE_SECRET_KEY (32+ characters, kept for good)")
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.var_dir / 'flashsale.db').resolve()}"

    @property
    def async_database_url(self) -> str:
        """The URL with an async driver: plain postgresql:// and sqlite:// are accepted too."""
        url = self.effective_database_url
        for plain, driver in (("postgresql://", "postgresql+asyncpg://"), ("postgres://", "postgresql+asyncpg://"),
                              ("sqlite://", "sqlite+aiosqlite://")):
            if url.startswith(plain):
                return driver + url[len(plain):]
        return url

    @property
    def media_root(self) -> Path:
        return self.media_dir or self.var_dir / "media"

    @property
    def on_embedded_defaults(self) -> bool:
        """No database or Redis configured and not production: a newcomer's first run."""
        return not self.database_url and not self.redis_url and self.env != "production"

    @property
    def is_sqlite(self) -> bool:
        return self.async_database_url.startswith("sqlite")

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def weekday_index(self) -> int:
        return WEEKDAYS.index(self.drop_weekday)

    @property
    def app_secret(self) -> bytes:
        return (self.secret_key or self.jwt_secret).encode()

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/")
