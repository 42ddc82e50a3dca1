"""Alipay's RSA2 signatures (SHA256withRSA, PKCS#1 v1.5, base64) as the gateway makes and checks them.
A request is signed over every parameter but `sign`, a notify or a return over every parameter but
`sign` and `sign_type`; both as `k=v` pairs sorted by key and joined with `&`, values not URL-encoded,
empty values left out. A synchronous answer is signed over the exact text of its `..._response` object."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def load_private(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("an RSA private key is needed")
    return key


def load_public(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("an RSA public key is needed")
    return key


def content(params: Mapping[str, str], leave_out: Iterable[str]) -> str:
    """The string that is signed: sorted `k=v` pairs joined with `&` (left-out keys and empty values dropped)."""
    dropped = set(leave_out)
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in dropped and v != "")


def sign(key: rsa.RSAPrivateKey, text: str) -> str:
    return base64.b64encode(key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify(key: rsa.RSAPublicKey, text: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=False)
        key.verify(raw, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, binascii.Error, UnicodeEncodeError):
        return False
    return True


def verify_request(key: rsa.RSAPublicKey, params: Mapping[str, str]) -> bool:
    """An app's request: RSA2, signed over everything but `sign` (sign_type included)."""
    return params.get("sign_type") == "RSA2" and verify(key, content(params, ("sign",)), params.get("sign", ""))


def signed_notice(key: rsa.RSAPrivateKey, params: Mapping[str, str]) -> dict[str, str]:
    """A notify's or a return's parameters with `sign_type` RSA2 and the `sign` over the rest."""
    signed = {k: v for k, v in params.items() if v != ""}
    signed["sign"] = sign(key, content(signed, ("sign", "sign_type")))
    signed["sign_type"] = "RSA2"
    return signed
