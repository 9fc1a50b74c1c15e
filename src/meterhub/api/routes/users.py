"""User management (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from meterhub.api.deps import AdminUser, DbSession
from meterhub.api.schemas import IdPath, UserCreateIn, UserOut, UserUpdateIn
from meterhub.services import users

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=list[UserOut])
def list_users(admin: AdminUser, db: DbSession) -> list[UserOut]:
    return [UserOut.of(u) for u in users.list_all(db)]


@router.post("", response_model=UserOut, status_code=201)
def create_user(body: UserCreateIn, admin: AdminUser, db: DbSession) -> UserOut:
    """Create a user; by default they must change the password at first login."""
    data = body.model_dump()
    timezone = data.pop("timezone")
    user = users.create(db, admin, **data)
    user.timezone = timezone
    return UserOut.of(user)


@router.get("/{user_id}", response_model=UserOut)
def get_user(user_id: IdPath, admin: AdminUser, db: DbSession) -> UserOut:
    return UserOut.of(users.get(db, user_id))


@router.put("/{user_id}", response_model=UserOut)
def update_user(user_id: IdPath, body: UserUpdateIn, admin: AdminUser, db: DbSession) -> UserOut:
    """Change role, disable (ends their sessions), reset the password, edit details."""
    user = users.update(db, admin, users.get(db, user_id), body.model_dump(exclude_unset=True))
    return UserOut.of(user)


@router.delete("/{user_id}", status_code=204)
def delete_user(user_id: IdPath, admin: AdminUser, db: DbSession) -> Response:
    users.delete_user(db, admin, users.get(db, user_id))
    return Response(status_code=204)
