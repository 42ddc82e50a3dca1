"""Field types shared by several domains' schemas."""
from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

# Format characters kept in names: the zero-width joiner (emoji sequences) and non-joiner (Persian
# and Indic spelling). Every other format character, bidirectional overrides and isolates first,
# can make a name read differently from what it is on pages, cards and orders.
_KEPT_FORMAT = frozenset("\u200c\u200d")
_REFUSED = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def plain_text(value: str) -> str:
    """Refuses control characters, bidirectional overrides and other invisible format characters."""
    for char in value:
        if unicodedata.category(char) in _REFUSED and char not in _KEPT_FORMAT:
            raise ValueError(f"must not contain control or bidirectional formatting characters "
                             f"(U+{ord(char):04X} {unicodedata.name(char, 'control')})")
    return value


def paragraphs(value: str) -> str:
    """Plain text with line breaks (a description): newlines kept (CRLF as LF), every other control or
    invisible format character refused, as in names."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    for line in value.split("\n"):
        plain_text(line.replace("\t", " "))
    return value


# A product's stock-keeping unit: what drops sell and F-codes may be bound to.
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                       pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"), AfterValidator(plain_text)]
ProductName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                        AfterValidator(plain_text)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
                       AfterValidator(plain_text)]
