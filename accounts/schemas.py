from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from accounts.models import Role
from core.types import PersonName

DisplayName = PersonName


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=8, max_length=256)
    display_name: DisplayName | None = None


class UserOut(BaseModel):
    id: int
    email: str
    display_name: str | None
    role: Role


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class RoleChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=8, max_length=256)
