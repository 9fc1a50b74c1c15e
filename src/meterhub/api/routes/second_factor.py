"""Your second factor (TOTP): set up, confirm, disable. Each needs a recent password entry."""

from __future__ import annotations

from fastapi import APIRouter, Response

from meterhub.api.deps import Context, DbSession, EnrollingPrincipal, require_fresh
from meterhub.api.errors import responses
from meterhub.api.schemas import RecoveryCodesOut, TotpConfirmIn, TotpSetupOut
from meterhub.errors import Forbidden
from meterhub.security import totp
from meterhub.services import second_factor

router = APIRouter(prefix="/api/auth/totp", tags=["auth"])


@router.post("/setup", response_model=TotpSetupOut, responses=responses(401, 403, 409))
def setup(principal: EnrollingPrincipal, db: DbSession) -> TotpSetupOut:
    """Start enrolment: a secret, its otpauth:// URI and that URI as a QR code (SVG) for
    your authenticator app."""
    require_fresh(principal)
    secret, uri = second_factor.start(db, principal.user)
    return TotpSetupOut(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


@router.post("/confirm", response_model=RecoveryCodesOut, responses=responses(401, 403, 409, 422))
def confirm(
    body: TotpConfirmIn, principal: EnrollingPrincipal, db: DbSession, ctx: Context
) -> RecoveryCodesOut:
    """Turn the second factor on with a current code; answers 10 one-time recovery codes
    (shown once: keep them somewhere safe)."""
    require_fresh(principal)
    codes = second_factor.confirm(db, principal.user, body.code, ctx.secret)
    return RecoveryCodesOut(recovery_codes=codes)


@router.delete("", status_code=204, responses=responses(401, 403))
def disable(principal: EnrollingPrincipal, db: DbSession, ctx: Context) -> Response:
    """Turn your second factor off (refused while the install requires it for admins)."""
    require_fresh(principal)
    if principal.user.is_admin and ctx.settings.REQUIRE_ADMIN_2FA:
        raise Forbidden("this install requires a second factor for admins (REQUIRE_ADMIN_2FA)")
    second_factor.disable(db, principal.user, principal.user)
    return Response(status_code=204)
