"""Your second factor (TOTP): set up, confirm, disable. Each needs a recent password entry."""

from __future__ import annotations

from fastapi import APIRouter, Response

from meterhub.api.auth_core import Principal
from meterhub.api.deps import Context, DbSession, PasswordChangePrincipal, require_fresh
from meterhub.api.errors import responses
from meterhub.api.schemas import RecoveryCodesOut, TotpConfirmIn, TotpSetupOut
from meterhub.errors import Forbidden
from meterhub.services import second_factor

router = APIRouter(prefix="/api/auth/totp", tags=["auth"])


def _session_only(principal: Principal) -> None:
    """A logged-in person who changed any forced password (but may still lack the second
    factor an install requires: this is where they set it up)."""
    if principal.user.must_change_password:
        raise Forbidden(
            "you must change your password first (POST /api/auth/password)",
            code="password_change_required",
        )
    if principal.token is not None:
        raise Forbidden("an API token cannot do this; log in", code="token_not_allowed")


@router.post("/setup", response_model=TotpSetupOut, responses=responses(401, 403, 409))
def setup(principal: PasswordChangePrincipal, db: DbSession) -> TotpSetupOut:
    """Start enrolment: a secret and its otpauth:// URI for your authenticator app."""
    _session_only(principal)
    require_fresh(principal)
    secret, uri = second_factor.start(db, principal.user)
    return TotpSetupOut(secret=secret, otpauth_uri=uri)


@router.post("/confirm", response_model=RecoveryCodesOut, responses=responses(401, 403, 409, 422))
def confirm(
    body: TotpConfirmIn, principal: PasswordChangePrincipal, db: DbSession, ctx: Context
) -> RecoveryCodesOut:
    """Turn the second factor on with a current code; answers 10 one-time recovery codes
    (shown once: keep them somewhere safe)."""
    _session_only(principal)
    require_fresh(principal)
    codes = second_factor.confirm(db, principal.user, body.code, ctx.secret)
    return RecoveryCodesOut(recovery_codes=codes)


@router.delete("", status_code=204, responses=responses(401, 403))
def disable(principal: PasswordChangePrincipal, db: DbSession, ctx: Context) -> Response:
    """Turn your second factor off (refused while the install requires it for admins)."""
    _session_only(principal)
    require_fresh(principal)
    if principal.user.is_admin and ctx.settings.REQUIRE_ADMIN_2FA:
        raise Forbidden("this install requires a second factor for admins (REQUIRE_ADMIN_2FA)")
    second_factor.disable(db, principal.user, principal.user)
    return Response(status_code=204)
