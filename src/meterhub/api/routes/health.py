"""Liveness for probes and scripts: `/healthz` checks the database."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from meterhub import __version__
from meterhub.api.deps import Context
from meterhub.api.read_schemas import HealthErrorOut, HealthOut
from meterhub.services import health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=HealthOut,
    responses={503: {"model": HealthErrorOut, "description": "The database does not answer"}},
)
def healthz(ctx: Context) -> HealthOut | JSONResponse:
    """200 `{"status":"ok"}` when the database answers, else 503."""
    error = health.database_error(ctx.engine)
    if error is not None:
        return JSONResponse(HealthErrorOut(status="error", error=error).model_dump(), 503)
    return HealthOut(status="ok", version=__version__)
