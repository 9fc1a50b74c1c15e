"""User management (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from meterhub.api.deps import AdminUser, CurrentPrincipal, DbSession, require_fresh
from meterhub.api.errors import responses
from meterhub.api.schemas import IdPath, UserCreateIn, UserOut, UserUpdateIn
from meterhub.services import second_factor, users

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=list[UserOut], responses=responses(401, 403))
def list_users(admin: AdminUser, db: DbSession) -> list[UserOut]:
    return [UserOut.of(u) for u in users.list_all(db)]


@router.post("", response_model=UserOut, status_code=201, responses=responses(401, 403, 409))
def create_user(
    body: UserCreateIn, admin: AdminUser, principal: CurrentPrincipal, db: DbSession
) -> UserOut:
    """Create a user; by default they must change the password at first login. Creating an
    admin needs a recent password entry (POST /api/auth/reauth)."""
    if body.role == "admin":
        require_fresh(principal)
    data = body.model_dump()
    timezone = data.pop("timezone")
    user = users.create(db, admin, **data)
    user.timezone = timezone
    return UserOut.of(user)


@router.get("/{user_id}", response_model=UserOut, responses=responses(401, 403, 404))
def get_user(user_id: IdPath, admin: AdminUser, db: DbSession) -> UserOut:
    return UserOut.of(users.get(db, user_id))


@router.put("/{user_id}", response_model=UserOut, responses=responses(401, 403, 404, 409))
def update_user(
    user_id: IdPath,
    body: UserUpdateIn,
    admin: AdminUser,
    principal: CurrentPrincipal,
    db: DbSession,
) -> UserOut:
    """Change role (needs a recent password entry), disable (ends their sessions), reset
    the password (also revokes their API tokens), edit details."""
    user = users.get(db, user_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("role", user.role) != user.role:
        require_fresh(principal)
    return UserOut.of(users.update(db, admin, user, changes))


@router.delete("/{user_id}/totp", status_code=204, responses=responses(401, 403, 404))
def reset_second_factor(
    user_id: IdPath, admin: AdminUser, principal: CurrentPrincipal, db: DbSession
) -> Response:
    """Remove a user's second factor (they lost their phone and their recovery codes)."""
    require_fresh(principal)
    second_factor.disable(db, admin, users.get(db, user_id))
    return Response(status_code=204)


@router.delete("/{user_id}", status_code=204, responses=responses(401, 403, 404, 409))
def delete_user(user_id: IdPath, admin: AdminUser, db: DbSession) -> Response:
    users.delete_user(db, admin, users.get(db, user_id))
    return Response(status_code=204)
