"""Liveness for probes and scripts: `/healthz` checks the database."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from meterhub import __version__
from meterhub.api.deps import Context

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(ctx: Context) -> JSONResponse:
    """200 `{"status":"ok"}` when the database answers, else 503."""
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return JSONResponse(
            {"status": "error", "error": f"database unreachable: {type(exc).__name__}"}, 503
        )
    return JSONResponse({"status": "ok", "version": __version__})
