"""Firmware bundles for over-the-air updates: admins upload them, devices download them.

`POST /api/ota/bundles` (admin) takes a multipart upload (field `file`): a .zip or .tar.gz
of `meterhub firmware build`'s output. `GET /ota/<version>/<path>` serves the manifest and
the files it lists to a device that presents `Authorization: Bearer <OTA token>` (the
`ota` command hands the token over): these routes take no user, on purpose; the token is
their whole access rule (services.ota.check_token).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from meterhub.api.deps import AdminUser, Context, DbSession, client_ip
from meterhub.errors import InvalidInput, NotAuthenticated
from meterhub.services import audit, devices, ota

log = logging.getLogger(__name__)
router = APIRouter(tags=["ota"])
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the file


class BundleOut(BaseModel):
    version: str
    files: int
    total_bytes: int
    uploaded_at: datetime
    manifest_path: str


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": ".zip or .tar.gz with manifest.json",
                        }
                    },
                }
            }
        },
    },
}


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past `limit` bytes before it is all read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ota.TooLarge(f"upload is larger than {ota.MAX_BUNDLE_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ota.TooLarge(f"upload is larger than {ota.MAX_BUNDLE_BYTES} bytes")
    return bytes(body)


async def _uploaded_file(request: Request) -> bytes:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput(
            "send the bundle as multipart/form-data with the field 'file'", field="file"
        )
    body = await _read_limited(request, ota.MAX_BUNDLE_BYTES + FORM_OVERHEAD)
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=1, max_fields=4)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("the form has no file field 'file'", field="file")
        return await upload.read(ota.MAX_BUNDLE_BYTES + 1)
    finally:
        await form.close()


@router.post(
    "/api/ota/bundles", response_model=BundleOut, status_code=201, openapi_extra=UPLOAD_BODY
)
async def upload_bundle(
    request: Request, admin: AdminUser, db: DbSession, ctx: Context
) -> BundleOut:
    """Upload a firmware bundle (multipart field `file`, at most 2 MB): every file's sha256
    and size is checked against manifest.json; 409 if that version exists."""
    data = await _uploaded_file(request)
    bundle = await run_in_threadpool(ota.read_bundle, data)
    info = await run_in_threadpool(ota.store_bundle, ctx.settings.data_dir, bundle)
    audit.record(
        db,
        admin,
        "ota.bundle_upload",
        "firmware",
        bundle.version,
        {"files": len(bundle.files), "total_bytes": bundle.total_bytes},
        client_ip(request),
    )
    return BundleOut(**info)


@router.get("/api/ota/bundles", response_model=list[BundleOut])
def list_bundles(admin: AdminUser, ctx: Context) -> list[BundleOut]:
    """Uploaded firmware bundles, newest first."""
    return [BundleOut(**b) for b in ota.list_bundles(ctx.settings.data_dir)]


@router.get(ota.URL_PREFIX + "/{version}/{file_path:path}", include_in_schema=False)
def device_download(
    version: Annotated[str, Path(max_length=64)],
    file_path: Annotated[str, Path(max_length=ota.MAX_PATH)],
    request: Request,
    db: DbSession,
    ctx: Context,
) -> FileResponse:
    """A device fetches the manifest or one of its files with its OTA token."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise NotAuthenticated("send Authorization: Bearer <OTA token> (from the ota command)")
    serial = ota.check_token(ctx.secret, header[7:].strip(), version)
    if devices.by_serial(db, serial) is None:
        raise NotAuthenticated("OTA token of a device that no longer exists")
    path = ota.file_for(ctx.settings.data_dir, version, file_path)
    log.info("OTA: %s downloads %s/%s", serial, version, file_path)
    return FileResponse(path, media_type="application/octet-stream")
