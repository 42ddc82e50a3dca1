from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.responses import Response

from accounts.exceptions import UserNotFound
from accounts.schemas import PasswordChangeIn, RegisterIn, RoleChangeIn, TokenOut, UserOut
from accounts.service import user_out
from app.deps import AccountsDep, ClientAddress, CurrentUser, OperatorActor
from app.problems import problems
from core.ids import parse_id

router = APIRouter(prefix="/api", tags=["accounts"])


async def _user_id(user_id: str) -> int:  # async: a plain def would run in the thread pool
    """ASCII digits naming a 32-bit id; anything else is simply an account that does not exist."""
    parsed = parse_id(user_id)
    if parsed is None:
        raise UserNotFound()
    return parsed


UserId = Annotated[int, Depends(_user_id)]


@router.post("/auth/register", status_code=201, response_model=UserOut,
             responses=problems("email_taken", "validation_error", "rate_limited"))
async def register(body: RegisterIn, accounts: AccountsDep, address: ClientAddress) -> UserOut:
    return user_out(await accounts.register(body.email, body.password, body.display_name, address))


@router.post("/auth/token", response_model=TokenOut,
             responses=problems("bad_credentials", "validation_error", "rate_limited"))
async def token(accounts: AccountsDep, address: ClientAddress,
                username: Annotated[str, Form(min_length=1, max_length=320)],
                password: Annotated[str, Form(min_length=1, max_length=256)]) -> TokenOut:
    return await accounts.login(username, password, address)


@router.get("/me", response_model=UserOut, responses=problems("unauthorized", "user_not_found"))
async def me(claims: CurrentUser, accounts: AccountsDep) -> UserOut:
    return user_out(await accounts.user(claims.user_id))


@router.post("/me/password", response_model=TokenOut,
             responses=problems("unauthorized", "bad_credentials", "validation_error", "rate_limited"))
async def change_password(body: PasswordChangeIn, claims: CurrentUser, accounts: AccountsDep,
                          address: ClientAddress) -> TokenOut:
    """Needs the current password; every other token of the account stops working, the answer
    carries a fresh one."""
    return await accounts.change_password(claims, body.current_password, body.new_password, address)


@router.post("/me/sign-out-everywhere", status_code=204, responses=problems("unauthorized"))
async def sign_out_everywhere(claims: CurrentUser, accounts: AccountsDep) -> Response:
    """Every token issued to the account so far, this one included, stops working at once."""
    await accounts.sign_out_everywhere(claims)
    return Response(status_code=204)


@router.patch("/admin/users/{user_id}", response_model=UserOut,
              responses=problems("unauthorized", "forbidden", "user_not_found", "validation_error"))
async def change_role(user_id: UserId, body: RoleChangeIn, actor: OperatorActor, accounts: AccountsDep) -> UserOut:
    """The account's tokens issued before the change stop working at once."""
    return user_out(await accounts.change_role(user_id, body.role, actor))
