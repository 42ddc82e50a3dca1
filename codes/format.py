"""The F-code format: "F" + 19 random Crockford base32 symbols + 1 check symbol, in groups of four.

    FXXXX-XXXX-XXXX-XXXX-XXXC

The 19 data symbols carry 95 bits from `secrets`. The check symbol is Crockford's: the value of
the code (prefix included, read as base 32) modulo 37, which catches every single wrong symbol and
every swap of two neighbours. Codes are minted only where that value is under 32, so every code
is plain letters and digits (this costs 0.2 bits). Input is case-insensitive; spaces and hyphens
are ignored; I and L read as 1, O as 0; the leading F may be left out.
"""
from __future__ import annotations

import secrets
from enum import Enum

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "F"
DATA_SYMBOLS = 19
GROUP = 4
CHECK_MODULUS = 37
_VALUE = {symbol: index for index, symbol in enumerate(ALPHABET)}
_LOOK_ALIKES = str.maketrans({"I": "1", "L": "1", "O": "0", "-": None})
MAX_INPUT = 64


class Problem(Enum):
    garbage = "That is not an F-code"
    mistyped = "That F-code looks mistyped: please check it"


class MalformedCode(ValueError):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def check_value(data: str) -> int:
    """The check symbol's value for these data symbols (37 possible; minted codes use the first 32)."""
    value = _VALUE[PREFIX]
    for symbol in data:
        value = value * 32 + _VALUE[symbol]
    return value % CHECK_MODULUS


def new_code() -> str:
    """A fresh code in its canonical form (prefix, 19 data symbols, check symbol; no hyphens)."""
    while True:
        number = secrets.randbits(5 * DATA_SYMBOLS)
        data = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in range(DATA_SYMBOLS))
        check = check_value(data)
        if check < len(ALPHABET):
            return PREFIX + data + ALPHABET[check]


def canonical(text: str) -> str:
    """The canonical form of what a person typed; raises MalformedCode (garbage or mistyped)."""
    if len(text) > MAX_INPUT:
        raise MalformedCode(Problem.garbage)
    body = "".join(text.upper().split()).translate(_LOOK_ALIKES)
    if len(body) == DATA_SYMBOLS + 2 and body.startswith(PREFIX):
        body = body[1:]
    if len(body) != DATA_SYMBOLS + 1 or any(symbol not in _VALUE for symbol in body):
        raise MalformedCode(Problem.garbage)
    data, check = body[:-1], body[-1]
    if check_value(data) != _VALUE[check]:
        raise MalformedCode(Problem.mistyped)
    return PREFIX + body


def display(code: str) -> str:
    """FXXXX-XXXX-XXXX-XXXX-XXXX: the prefix leads the first group of four."""
    body = code[1:]
    return PREFIX + "-".join(body[i:i + GROUP] for i in range(0, len(body), GROUP))
