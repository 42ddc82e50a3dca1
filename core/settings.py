"""Settings from FLASHSALE_* environment variables, made once and injected."""
from __future__ import annotations

import contextlib
import os
import secrets
from datetime import time
from functools import cached_property
from pathlib import Path
from time import sleep
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.net import networks

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def private_dir(path: Path) -> Path:
    """`path` made if missing and readable by its owner only (0700), whatever the umask: the var
    directory holds the database, Redis's files and the secrets."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> None:
    """`path` created if missing, and made readable by its owner only (0600). An existing file is
    never opened: closing any descriptor of a SQLite database drops every POSIX lock this process
    holds on it (SQLite's connections included), which corrupts it."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.chmod(path, 0o600)


def dev_secret(path: Path) -> str:
    """The secret kept in `path` (mode 0600), made at random the first time. Several workers may
    start at once: the file is created exclusively, and a loser reads the winner's."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # the winner may not have written it yet
            value = path.read_text(encoding="ascii").strip()
            if value:
                return value
            sleep(0.01)
        raise RuntimeError(f"{path} is empty: delete it to make a new development secret") from None
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(value + "\n")
    return value


def _pem(value: str) -> str:
    return value if value.lstrip().startswith("-----BEGIN") or not value else Path(value).read_text(encoding="ascii")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLASHSALE_", extra="ignore")

    # Exactly one of the two: a typo ("Production", "prod") must not run as development (demo store,
    # generated secrets, passwords printed).
    env: Literal["development", "production"] = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "fs"
    # Empty outside production: a random one is made on first start and kept under var_dir.
    jwt_secret: str = ""
    # Older secrets, "kid=secret" comma separated: they still verify until removed.
    jwt_old_secrets: str = ""
    jwt_kid: str = "k1"
    jwt_issuer: str = "flashsale"
    jwt_audience: str = "flashsale-api"
    jwt_ttl_seconds: int = 3600
    # Unset: `flashsale serve` sets it to the address it listens on (app/cli.py); in-process runs
    # fall back to DEFAULT_BASE_URL.
    public_base_url: str = ""
    timezone: str = "Asia/Shanghai"
    drop_weekday: str = "tuesday"
    drop_time: time = time(12, 0)
    store_name: str = "flashsale"
    # The store's currency: what the operator's create form starts with (whatever the page's language).
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    secret_key: str = ""  # HMAC/Fernet key material; like jwt_secret, made and kept in development
    login_max_failures: int = 10  # per account and client address pair: then that pair is locked
    login_window_seconds: int = 600
    login_account_slow_after: int = 10  # failures on an account (any address) before each attempt waits
    login_account_max_delay_seconds: float = 2.0
    login_per_address_per_minute: int = 20  # sign-in attempts from one client address, any account
    register_per_address_per_hour: int = 20
    password_hash_concurrency: int = 1  # Argon2 hashes at once per worker process (each takes a core)
    password_hash_queue: int = 32       # waiting beyond that: 429 at once
    # Reserved-but-unpaid units one client address may hold per drop (sale/address_cap.py): the larger
    # of this many buyers at the drop's per-user limit and this share of its stock. In a 1,000-unit drop
    # at 1 per buyer: 10 (a farm holds 1% unpaid; buyers behind one NAT get 10 at once, and one more
    # for each of them who pays).
    max_unpaid_per_address: int = Field(default=4, ge=1)
    max_unpaid_per_address_share: float = Field(default=0.01, ge=0, le=1)
    http_header_timeout_seconds: float = 10.0  # a request's head must arrive within this
    http_body_timeout_seconds: float = 10.0    # and its whole body within this after the head
    http_keep_alive_seconds: int = 5           # idle keep-alive connections are closed after this
    purchase_rate_per_second: int = 20
    fcodes_per_employee_month: int = 2
    fcode_valid_months: int = 1
    fcode_gift_hours: int = 72
    fcode_max_failures: int = 5
    fcode_failure_window_seconds: int = 600
    max_body_bytes: int = 64 * 1024
    run_background: bool = True  # stream sink and expiry sweeper inside the web worker
    # gc.freeze of the start-up heap (app/main.py settle_heap): for a worker that lives long; a process
    # that starts many apps (the tests) turns it off, each freeze there being a full collection.
    settle_heap: bool = True
    sweep_interval_seconds: float = 0.25
    sink_claim_idle_ms: int = 10_000  # order events pending this long on a dead consumer are claimed
    # How long a SQL call may wait for a connection, a lock or an answer before the request gets a 503.
    database_timeout_seconds: float = 5.0
    shutdown_drain_seconds: float = 10.0  # graceful stop: time the sink has to write what is left
    payment_lease_seconds: float = 60.0  # a payment in progress holds its order this long at most
    # After each purchase call, WAIT until this many replicas have its writes (0: answer at once; a
    # failover may then lose the last acknowledged orders). Bounded by redis_wait_timeout_ms.
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 200
    # After a failover (or a restart from disk) a drop pauses this long before SQL is merged back in,
    # so order-sink batches read from the old primary are committed first.
    failover_settle_seconds: float = 1.0
    log_level: str = "info"
    payment_provider: str = "test"
    # Stripe (off while the secret key is empty): the API base may name a stand-in (flashsale dev payments).
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_publishable_key: str = ""
    stripe_api_base: str = ""
    # Alipay (off while the app id is empty). Keys: PEM text, or the path of a PEM file.
    alipay_app_id: str = ""
    alipay_app_private_key: str = ""
    alipay_public_key: str = ""
    alipay_gateway: str = ""
    # On the embedded defaults the service starts the local payment stand-ins (fakes/) and offers them.
    dev_payments: bool = True
    # The waiting room (drops with waiting_room on)
    queue_admission_seconds: int = 120   # how long an admitted buyer may purchase
    # A waiting ticket not polled for this long is skipped (expired). Above a minute: browsers poll a
    # hidden tab at most once a minute.
    queue_stale_seconds: int = 90
    queue_joins_per_address: int = 20    # tickets one client address may enrol per drop in the window
    # Draws: entries one client address (an IPv6 one by its /64) may hold in one draw, whatever its accounts
    draw_entries_per_address: int = Field(default=20, ge=1)
    queue_address_window_seconds: int = 600
    queue_attempts_per_account_minute: int = 30
    queue_challenge_ttl_seconds: int = 300
    # Proof of work: the secret counter is drawn below a number that rises with the join rate.
    queue_challenge_min_number: int = 20_000
    queue_challenge_number_per_join: int = 2_000   # added per join in the last second
    queue_challenge_max_number: int = 1_000_000
    trusted_proxies: str = Field(default="", description="comma-separated peers whose X-Forwarded-For counts")
    # Who may read /metrics without an operator's token (addresses or networks, comma-separated).
    metrics_allow: str = "127.0.0.0/8,::1"
    metrics_max_age_seconds: float = 1.0  # a scrape may answer a rendering this old (0: always fresh)
    # An OTLP/HTTP collector (e.g. http://collector:4318): traces are sent to <it>/v1/traces. Empty: no tracing.
    otel_endpoint: str = ""
    media_dir: Path | None = None  # product pictures; default <var_dir>/media
    # New pictures go to this S3-compatible store when its endpoint is set (else to the database). Empty
    # keys: the AWS SDK's own chain (AWS_* variables, an instance role).
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    s3_timeout_seconds: float = Field(default=5.0, gt=0)
    # Messages (issue 22). Email goes to this SMTP server (smtp://user:pass@host:port, smtps://...,
    # ?starttls=1); on the embedded defaults `flashsale serve` starts a local one (read at /dev/mail).
    smtp_url: str = ""
    mail_from: str = "store@flashsale.invalid"
    mail_from_name: str = "flashsale"
    dev_mailbox: Path | None = None  # the local mailbox's Maildir (set by `flashsale serve`), for /dev/mail
    dev_mail: bool = True  # FLASHSALE_DEV_MAIL=false: no local SMTP server on the embedded defaults
    send_messages: bool = True  # the outbox's sender runs (where the message loops run)
    # For this many seconds after a drop opens, while it has units left, the sender sends only the
    # messages with a deadline (the drop is open, your turn, a unit held, the draw): receipts wait.
    rush_seconds: float = Field(default=60.0, ge=0)
    # The message loops (drop openings, admissions told, the outbox's sender) run in each web worker;
    # `flashsale serve` sets this false for its workers and runs them in a process of its own.
    message_loops: bool = True
    # Web push: the VAPID key pair (a PEM file path or the raw key); generated under var/ in development.
    vapid_private_key: str = ""
    vapid_subject: str = "mailto:store@flashsale.invalid"
    demo: bool = True  # seed a demo store on the embedded defaults with an empty database

    @field_validator("drop_weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        if value.lower() not in WEEKDAYS:
            raise ValueError(f"drop_weekday must be one of {', '.join(WEEKDAYS)}")
        return value.lower()

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        networks(value)  # a typo here would silently trust nobody (or the wrong peers)
        return value

    @field_validator("otel_endpoint")
    @classmethod
    def _otel_endpoint(cls, value: str) -> str:
        # Without a scheme the exporter would only fail at its first export, in a thread's log.
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("otel_endpoint must be an http:// or https:// URL (an OTLP/HTTP collector)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @model_validator(mode="after")
    def _providers(self) -> Settings:
        if self.stripe_secret_key and not self.stripe_webhook_secret:
            raise ValueError("FLASHSALE_STRIPE_SECRET_KEY needs FLASHSALE_STRIPE_WEBHOOK_SECRET: "
                             "events could not be verified")
        if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
            raise ValueError("FLASHSALE_S3_ENDPOINT_URL must be an http:// or https:// URL")
        if self.s3_endpoint_url and not self.s3_bucket:
            raise ValueError("FLASHSALE_S3_ENDPOINT_URL needs FLASHSALE_S3_BUCKET")
        if self.alipay_app_id and not (self.alipay_app_private_key and self.alipay_public_key):
            raise ValueError("FLASHSALE_ALIPAY_APP_ID needs FLASHSALE_ALIPAY_APP_PRIVATE_KEY and "
                             "FLASHSALE_ALIPAY_PUBLIC_KEY")
        return self

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.env == "production":
            if len(self.jwt_secret) < 32:
                raise ValueError("FLASHSALE_ENV=production needs FLASHSALE_JWT_SECRET (32+ random characters)")
            if len(self.secret_key) < 32:
                # F-code lookups and encryption derive from it: it must outlive JWT secret rotations.
                raise ValueError("FLASHSALE_ENV=production needs FLASHSALE_SECRET_KEY "
                                 "(32+ characters, kept for good)")
            return self
        # Development: no secret lives in the source; each var directory gets its own, made once.
        if not self.jwt_secret or not self.secret_key:
            private_dir(self.var_dir)
        if not self.jwt_secret:
            self.jwt_secret = dev_secret(self.var_dir / "secrets" / "jwt_secret")
        if not self.secret_key:
            self.secret_key = dev_secret(self.var_dir / "secrets" / "secret_key")
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
    def alipay_keys(self) -> tuple[str, str]:
        """The app's private key and Alipay's public key, as PEM text (a setting may name a file)."""
        return _pem(self.alipay_app_private_key), _pem(self.alipay_public_key)

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
        return self.secret_key.encode()

    @property
    def base_url(self) -> str:
        """The one source of every absolute URL the service makes (links, cards, image_url, redirects)."""
        return (self.public_base_url or DEFAULT_BASE_URL).rstrip("/")
