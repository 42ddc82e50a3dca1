"""Field types shared by several domains' schemas."""
from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# A product's stock-keeping unit: what drops sell and F-codes may be bound to.
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                       pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
