"""An address as the buyer sends it, as the API answers it, and as an order keeps it (`Shipping`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from core.types import plain_text


def _upper(value: str) -> str:
    return value.upper()


Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 AfterValidator(plain_text)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                  AfterValidator(plain_text)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ()-]{3,30}$")]
Country = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{2}$"), AfterValidator(_upper)]
PostalCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20,
                                              pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")]


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Short
    phone: Phone
    country: Country  # ISO 3166-1 alpha-2
    region: Short | None = None
    city: Short
    line1: Line
    line2: Line | None = None
    postal_code: PostalCode | None = None

class AddressOut(BaseModel):
    id: int
    name: str
    phone: str
    country: str
    region: str | None
    city: str
    line1: str
    line2: str | None
    postal_code: str | None

class ShippingOut(BaseModel):
    """The address an order ships to, as the operator's order list answers it."""

    name: str
    phone: str
    country: str
    region: str | None = None
    city: str
    line1: str
    line2: str | None = None
    postal_code: str | None = None


@dataclass(frozen=True, slots=True)
class Shipping:
    """The copy of an address an order ships to (recorded when it is paid)."""

    name: str
    phone: str
    country: str
    city: str
    line1: str
    region: str | None = None
    line2: str | None = None
    postal_code: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Shipping:
        def opt(key: str) -> str | None:
            value = d.get(key)
            return str(value) if value not in (None, False, "") else None

        return cls(name=str(d.get("name") or ""), phone=str(d.get("phone") or ""), country=str(d.get("country") or ""),
                   city=str(d.get("city") or ""), line1=str(d.get("line1") or ""), region=opt("region"),
                   line2=opt("line2"), postal_code=opt("postal_code"))

    def __repr__(self) -> str:  # personal data: never spelled out by a log line or a traceback
        return "Shipping(<redacted>)"
