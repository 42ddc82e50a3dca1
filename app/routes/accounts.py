from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path

from accounts import service
from accounts.models import Role
from accounts.schemas import RegisterIn, RoleChangeIn, TokenOut, UserOut
from app.deps import ClientAddress, CurrentUser, OperatorUser, RuntimeDep, SessionDep

router = APIRouter(prefix="/api", tags=["accounts"])
# Ids are 32-bit columns: a larger number is refused here, not by the database driver (a 500).
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/auth/register", status_code=201, response_model=UserOut)
async def register(body: RegisterIn, session: SessionDep) -> UserOut:
    user = await service.create_user(session, body.email, body.password, Role.shopper, body.display_name)
    return service.user_out(user)


@router.post("/auth/token", response_model=TokenOut)
async def token(runtime: RuntimeDep, session: SessionDep, address: ClientAddress,
                username: Annotated[str, Form(max_length=320)],
                password: Annotated[str, Form(max_length=256)]) -> TokenOut:
    return await service.login(runtime, session, username, password, address)


@router.get("/me", response_model=UserOut)
async def me(claims: CurrentUser, session: SessionDep) -> UserOut:
    return service.user_out(await service.get_user(session, claims.user_id))


@router.patch("/admin/users/{user_id}", response_model=UserOut)
async def change_role(user_id: UserId, body: RoleChangeIn, _: OperatorUser, session: SessionDep) -> UserOut:
    return service.user_out(await service.change_role(session, user_id, body.role))
