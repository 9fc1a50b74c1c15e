"""API tokens: `Authorization: Bearer <token>` for scripts.

Scopes: `read` (GET only; any user, their own devices), `write` (also changes, but no admin
routes) and `admin` (admins only). Tokens expire (90 days unless asked otherwise), cannot
create tokens, and end with a password change unless the change keeps them.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from meterhub.api.deps import Context, CurrentUser, DbSession, FreshPrincipal, InteractivePrincipal
from meterhub.api.errors import responses
from meterhub.api.schemas import IdPath, TokenCreatedOut, TokenCreateIn, TokenOut
from meterhub.services import tokens

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.get("", response_model=list[TokenOut], responses=responses(401, 403))
def list_tokens(user: CurrentUser, db: DbSession) -> list[TokenOut]:
    """Your tokens (never their values)."""
    return [TokenOut.model_validate(t, from_attributes=True) for t in tokens.of_user(db, user)]


@router.post(
    "", response_model=TokenCreatedOut, status_code=201, responses=responses(401, 403, 422)
)
def create_token(
    body: TokenCreateIn, principal: FreshPrincipal, db: DbSession, ctx: Context
) -> TokenCreatedOut:
    """A new token; its value is in this answer only. Needs a session whose password was
    entered in the last 10 minutes (log in, or POST /api/auth/reauth)."""
    token, raw = tokens.create(
        db, principal.user, ctx.secret, body.name, body.scope, body.expires_days
    )
    out = TokenOut.model_validate(token, from_attributes=True)
    return TokenCreatedOut(**out.model_dump(), token=raw)


@router.delete("/{token_id}", status_code=204, responses=responses(401, 403, 404))
def revoke_token(token_id: IdPath, principal: InteractivePrincipal, db: DbSession) -> Response:
    """Revoke one of your tokens."""
    tokens.revoke(db, principal.user, token_id)
    return Response(status_code=204)
