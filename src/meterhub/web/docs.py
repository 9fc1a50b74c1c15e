"""Self-hosted API docs (/docs): Swagger UI from the swagger-ui-bundle package, no CDN and
no inline script, so the strict CSP holds here too."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meterhub API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger-init.js"></script></body></html>"""

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs() -> HTMLResponse:
    return HTMLResponse(PAGE)


def mount(app: FastAPI) -> None:
    """Serve the Swagger UI assets and the /docs page."""
    app.mount("/static/swagger", StaticFiles(directory=SWAGGER_DIR), name="swagger")
    app.include_router(router)
