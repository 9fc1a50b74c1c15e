"""API tokens (admins): `Authorization: Bearer <token>` for scripts."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from sqlalchemy import select

from meterhub.api.deps import AdminUser, Context, DbSession
from meterhub.api.schemas import IdPath, TokenCreatedOut, TokenCreateIn, TokenOut
from meterhub.db.models import ApiToken
from meterhub.db.types import utcnow
from meterhub.errors import NotFound
from meterhub.security.tokens import keyed_hash, new_api_token
from meterhub.services import audit

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.get("", response_model=list[TokenOut])
def list_tokens(admin: AdminUser, db: DbSession) -> list[TokenOut]:
    """Your tokens (never their values)."""
    rows = db.scalars(select(ApiToken).where(ApiToken.user_id == admin.id).order_by(ApiToken.id))
    return [TokenOut.model_validate(t, from_attributes=True) for t in rows]


@router.post("", response_model=TokenCreatedOut, status_code=201)
def create_token(
    body: TokenCreateIn, admin: AdminUser, db: DbSession, ctx: Context
) -> TokenCreatedOut:
    """A new token; its value is in this answer only."""
    raw = new_api_token()
    expires = utcnow() + timedelta(days=body.expires_days) if body.expires_days else None
    token = ApiToken(
        user_id=admin.id,
        name=body.name,
        token_hash=keyed_hash(ctx.secret, raw),
        prefix=raw[:10],
        expires_at=expires,
    )
    db.add(token)
    db.flush()
    audit.record(db, admin, "token.create", "token", token.id, {"name": body.name})
    out = TokenOut.model_validate(token, from_attributes=True)
    return TokenCreatedOut(**out.model_dump(), token=raw)


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: IdPath, admin: AdminUser, db: DbSession) -> Response:
    """Revoke one of your tokens."""
    token = db.get(ApiToken, token_id)
    if token is None or token.user_id != admin.id:
        raise NotFound(f"token {token_id} not found")
    db.delete(token)
    audit.record(db, admin, "token.revoke", "token", token_id)
    return Response(status_code=204)
