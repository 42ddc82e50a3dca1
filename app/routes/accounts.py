from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.responses import Response

from accounts import service
from accounts.exceptions import UserNotFound
from accounts.schemas import PasswordChangeIn, RegisterIn, RoleChangeIn, TokenOut, UserOut
from app.deps import ClientAddress, CurrentUser, OperatorUser, RuntimeDep, SessionDep
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
async def register(body: RegisterIn, session: SessionDep, runtime: RuntimeDep, address: ClientAddress) -> UserOut:
    user = await service.register(runtime, session, body.email, body.password, body.display_name, address)
    return service.user_out(user)


@router.post("/auth/token", response_model=TokenOut,
             responses=problems("bad_credentials", "validation_error", "rate_limited"))
async def token(runtime: RuntimeDep, address: ClientAddress,
                username: Annotated[str, Form(min_length=1, max_length=320)],
                password: Annotated[str, Form(min_length=1, max_length=256)]) -> TokenOut:
    return await service.login(runtime, username, password, address)


@router.get("/me", response_model=UserOut, responses=problems("unauthorized", "user_not_found"))
async def me(claims: CurrentUser, session: SessionDep) -> UserOut:
    return service.user_out(await service.get_user(session, claims.user_id))


@router.post("/me/password", response_model=TokenOut,
             responses=problems("unauthorized", "bad_credentials", "validation_error", "rate_limited"))
async def change_password(body: PasswordChangeIn, claims: CurrentUser, session: SessionDep, runtime: RuntimeDep,
                          address: ClientAddress) -> TokenOut:
    """Needs the current password; every other token of the account stops working, the answer
    carries a fresh one."""
    return await service.change_password(runtime, session, claims, body.current_password, body.new_password,
                                         address)


@router.post("/me/sign-out-everywhere", status_code=204, responses=problems("unauthorized"))
async def sign_out_everywhere(claims: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Every token issued to the account so far, this one included, stops working at once."""
    await service.sign_out_everywhere(runtime, session, claims)
    return Response(status_code=204)


@router.patch("/admin/users/{user_id}", response_model=UserOut,
              responses=problems("unauthorized", "forbidden", "user_not_found", "validation_error"))
async def change_role(user_id: UserId, body: RoleChangeIn, _: OperatorUser, session: SessionDep,
                      runtime: RuntimeDep) -> UserOut:
    """The account's tokens issued before the change stop working at once."""
    return service.user_out(await service.change_role(runtime, session, user_id, body.role))
