"""Development keys shared by the fakes and a service on the embedded defaults: Stripe's test keys and
webhook secret, the Alipay app's RSA key pair and the gateway's. Made at random the first time under a
directory (e.g. `var/payments/`, 0700, each file 0600) and read back afterwards, so that the service and
`flashsale dev payments` agree without configuration. Never for production: these are test keys."""
from __future__ import annotations

import contextlib
import os
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ALIPAY_APP_ID = "9021000000000001"  # a sandbox-style app id: the gateway knows only this app
ALPHABET = string.ascii_letters + string.digits
RSA_BITS = 2048


def _random(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_private_pem() -> str:
    """A new RSA private key, PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def public_pem(private_pem: str) -> str:
    """The public half of a private key PEM, as a SubjectPublicKeyInfo PEM (what Alipay hands out)."""
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def kept(path: Path, make: Callable[[], str]) -> str:
    """The value in `path`, made by `make()` the first time. Safe when several processes start at once:
    the value is written to a private temporary file, then linked to `path`, which fails if another
    process got there first (then its value is read): `path` never exists half written."""
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(make().strip() + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise RuntimeError(f"{path} is empty: delete it to make a new development key")
    return value


@dataclass(frozen=True)
class DevKeys:
    """The keys (their repr shows none of the secrets)."""
    directory: Path
    stripe_secret_key: str = field(repr=False)
    stripe_publishable_key: str
    stripe_webhook_secret: str = field(repr=False)
    alipay_app_id: str
    app_private_pem: str = field(repr=False)       # the shop's key: it signs requests to the gateway
    app_public_pem: str = field(repr=False)        # the gateway verifies the shop's requests with it
    gateway_private_pem: str = field(repr=False)   # the gateway's key: it signs answers, notifies and returns
    gateway_public_pem: str = field(repr=False)    # "Alipay's public key": the shop verifies the gateway with it

    @property
    def app_private_path(self) -> Path:
        return self.directory / "alipay_app_private.pem"

    @property
    def gateway_public_path(self) -> Path:
        return self.directory / "alipay_gateway_public.pem"


def dev_keys(directory: Path) -> DevKeys:
    """The development keys kept under `directory` (made there on first use, mode 0700/0600)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    app_private = kept(directory / "alipay_app_private.pem", new_private_pem)
    gateway_private = kept(directory / "alipay_gateway_private.pem", new_private_pem)
    gateway_public = public_pem(gateway_private)
    # The public half beside, for a service configured with a path (FLASHSALE_ALIPAY_PUBLIC_KEY).
    kept(directory / "alipay_gateway_public.pem", lambda: gateway_public)
    return DevKeys(directory=directory,
                   stripe_secret_key=kept(directory / "stripe_secret_key", lambda: _random("sk_test_", 99)),
                   stripe_publishable_key=kept(directory / "stripe_publishable_key", lambda: _random("pk_test_", 99)),
                   stripe_webhook_secret=kept(directory / "stripe_webhook_secret", lambda: _random("whsec_", 32)),
                   alipay_app_id=ALIPAY_APP_ID, app_private_pem=app_private, app_public_pem=public_pem(app_private),
                   gateway_private_pem=gateway_private, gateway_public_pem=gateway_public)
