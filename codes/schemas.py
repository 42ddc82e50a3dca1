from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from codes.models import CodeStatus
from core.types import Sku

Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}$")]


class FcodeOut(BaseModel):
    code: str = Field(description="The code as people read it: FXXXX-XXXX-XXXX-XXXX-XXXX")
    month: str
    status: CodeStatus
    expires_at: datetime
    sku: str | None = Field(description="The only SKU the code buys; null: any SKU")
    order_id: str | None
    gifted_to: str | None = Field(description="Email of the account the code is given to, if any")
    given_by: str | None = Field(default=None, description="For a code given to the caller: the giver's email")


class ClaimOut(BaseModel):
    month: str
    codes: list[FcodeOut]


class GiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[EmailStr, Field(max_length=320)]


class IssueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Month | None = Field(default=None, description="YYYY-MM; default: this month in the store's zone")
    sku: Sku | None = Field(default=None, description="Bind the minted codes to one SKU; default: any SKU")


class IssueOut(BaseModel):
    month: str
    issued: int


class CodeCounts(BaseModel):
    issued: int = 0
    available: int = 0
    reserved: int = 0
    redeemed: int = 0
    expired: int = 0
    revoked: int = 0


class MonthCounts(CodeCounts):
    month: str


class CodeStatsOut(BaseModel):
    months: list[MonthCounts]
    totals: CodeCounts
