"""Firmware bundles (upload checks, storage, listing), OTA tokens (scope, expiry) and the
device's downloads; the `ota` command that hands a device its URL and token."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meterhub.errors import Forbidden, NotAuthenticated
from meterhub.services import ota
from meterhub.services.ota import check_token, issue_token
from tests.conftest import ADMIN_PASSWORD

from .conftest import (
    FILES,
    Listener,
    bundle_entries,
    manifest_for,
    tar_gz,
    upload,
    zipped,
)

SECRET = "s" * 48


# -- upload ---------------------------------------------------------------------------------
def test_upload_tar_gz_and_zip_then_list(admin_api: Any, ctx: Any) -> None:
    res = upload(admin_api, tar_gz(bundle_entries(version="1.2.0")))
    assert res.status_code == 201, res.text
    assert res.json()["version"] == "1.2.0" and res.json()["files"] == 3
    assert res.json()["total_bytes"] == sum(len(b) for b in FILES.values())
    # a zip of the build folder itself (one top-level directory) is fine too
    nested = {f"firmware/{k}": v for k, v in bundle_entries(version="1.3.0-rc1").items()}
    res = upload(admin_api, zipped(nested), "fw.zip")
    assert res.status_code == 201, res.text
    listed = admin_api.get("/api/ota/bundles").json()
    assert [b["version"] for b in listed] == ["1.3.0-rc1", "1.2.0"]
    folder = ctx.settings.data_dir / "ota" / "1.2.0"
    assert (folder / "lib" / "app.mpy").read_bytes() == FILES["lib/app.mpy"]
    assert not (folder / "boot.py").exists()  # only what the manifest lists is kept
    assert json.loads((folder / "manifest.json").read_text()) == manifest_for(FILES)
    again = upload(admin_api, tar_gz(bundle_entries(version="1.2.0")))
    assert again.status_code == 409 and "already uploaded" in again.json()["error"]
    audit = admin_api.get("/api/audit").json()
    assert [e["target_id"] for e in audit if e["action"] == "ota.bundle_upload"] == [
        "1.3.0-rc1",
        "1.2.0",
    ]


def _broken(kind: str) -> bytes:
    files = dict(FILES)
    doc = manifest_for(files)
    if kind == "sha":
        doc["files"][1]["sha256"] = hashlib.sha256(b"other").hexdigest()
    elif kind == "size":
        doc["files"][0]["size"] += 1
    elif kind == "missing":
        del files["main.py"]
    elif kind in ("traversal", "absolute", "protected", "ota_state"):
        name = {
            "traversal": "../../etc/cron.d/x",
            "absolute": "/etc/passwd",
            "protected": "boot.py",
            "ota_state": "ota_state.json",
        }[kind]
        files = {name: b"x"}
        doc = manifest_for(files)
    elif kind == "archive_traversal":
        return tar_gz({**bundle_entries(), "../escape.txt": b"x"})
    elif kind == "archive_absolute":
        return tar_gz({**bundle_entries(), "/tmp/escape.txt": b"x"})
    elif kind == "symlink":
        return tar_gz(bundle_entries(), links={"lib/evil": "/etc/passwd"})
    elif kind == "no_manifest":
        return tar_gz(FILES)
    elif kind == "bad_json":
        return tar_gz({**FILES, "manifest.json": b"{nope"})
    elif kind == "bad_version":
        doc["version"] = "../1"
    elif kind == "not_archive":
        return b"just some text"
    elif kind == "truncated":
        return tar_gz(bundle_entries())[:200]
    return tar_gz({**files, "manifest.json": json.dumps(doc).encode()})


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("sha", "sha256 mismatch for lib/app.mpy"),
        ("size", "size mismatch for main.py"),
        ("missing", "manifest lists main.py but the bundle does not contain it"),
        ("traversal", "'..' would leave the bundle"),
        ("absolute", "refusing absolute path '/etc/passwd'"),
        ("protected", "boot.py cannot be replaced over the air"),
        ("ota_state", "cannot be replaced over the air"),
        ("archive_traversal", "'..' would leave the bundle"),
        ("archive_absolute", "refusing absolute path"),
        ("symlink", "only regular files"),
        ("no_manifest", "no manifest.json"),
        ("bad_json", "not valid JSON"),
        ("bad_version", "manifest version must be"),
        ("not_archive", "must be a .zip or .tar.gz"),
        ("truncated", "not a readable .tar.gz"),
    ],
)
def test_bad_bundles_are_refused(admin_api: Any, ctx: Any, kind: str, words: str) -> None:
    res = upload(admin_api, _broken(kind))
    assert res.status_code == 422, res.text
    assert words in res.json()["error"]
    root = ctx.settings.data_dir / "ota"
    assert not root.exists() or [p.name for p in root.iterdir()] == []
    assert not (ctx.settings.data_dir.parent / "escape.txt").exists()


def test_zip_symlink_and_traversal_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo("lib/link")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(Exception, match="only regular files"):
        ota.read_bundle(out.getvalue())
    with pytest.raises(Exception, match="would leave the bundle"):
        ota.read_bundle(zipped({**bundle_entries(), "a/../../x": b"1"}))


def test_upload_size_is_bounded(admin_api: Any, monkeypatch: Any) -> None:
    big = tar_gz({"x.bin": bytes(100)})
    monkeypatch.setattr(ota, "MAX_BUNDLE_BYTES", len(big) - 1)
    res = upload(admin_api, big)
    assert res.status_code == 413 and "larger than" in res.json()["error"]
    res = admin_api.post(
        "/api/ota/bundles",
        content=b"x" * (3 * 1024 * 1024),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert res.status_code == 413
    # unpacking is bounded too (a small archive of a large file)
    monkeypatch.setattr(ota, "MAX_BUNDLE_BYTES", 2 * 1024 * 1024)
    monkeypatch.setattr(ota, "MAX_EXTRACTED_BYTES", 10_000)
    res = upload(admin_api, tar_gz(bundle_entries({"lib/zeros.bin": bytes(20_000)})))
    assert res.status_code == 413 and "unpacks to more than" in res.json()["error"]


def test_upload_needs_an_admin_and_a_file(admin_api: Any, make_user: Any) -> None:
    alice = make_user("alice")
    assert upload(alice, tar_gz(bundle_entries())).status_code == 403
    assert alice.get("/api/ota/bundles").status_code == 403
    res = admin_api.post("/api/ota/bundles", json={"file": "x"})
    assert res.status_code == 422 and "multipart/form-data" in res.json()["error"]
    res = admin_api.post("/api/ota/bundles", files={"other": ("a", b"b")})
    assert res.status_code == 422 and "no file field 'file'" in res.json()["error"]


# -- tokens ---------------------------------------------------------------------------------
def test_token_is_scoped_and_expires() -> None:
    now = time.time()
    token = issue_token(SECRET, "PZEM-1", "1.2.0", now=now)
    assert check_token(SECRET, token, "1.2.0", now=now + 60) == "PZEM-1"
    with pytest.raises(NotAuthenticated, match="expired"):
        check_token(SECRET, token, "1.2.0", now=now + ota.TOKEN_TTL_S + 1)
    with pytest.raises(Forbidden, match=r"for firmware 1\.2\.0, not 1\.3\.0"):
        check_token(SECRET, token, "1.3.0", now=now)
    with pytest.raises(NotAuthenticated, match="invalid"):
        check_token("t" * 48, token, "1.2.0", now=now)  # another server's secret
    head, body, sig = token.split(".")
    forged = issue_token(SECRET, "PZEM-2", "1.2.0", now=now).split(".")[1]
    for bad in (f"{head}.{forged}.{sig}", f"{head}.{body}.{sig[:-2]}", "x", "", "a.b.c.d"):
        with pytest.raises(NotAuthenticated, match="invalid"):
            check_token(SECRET, bad, "1.2.0", now=now)
    assert 60 < ota.TOKEN_TTL_S <= 15 * 60


# -- downloads ------------------------------------------------------------------------------
def test_device_downloads_with_its_token(admin_api: Any, device: dict[str, Any], ctx: Any) -> None:
    assert upload(admin_api, tar_gz(bundle_entries())).status_code == 201
    client = admin_api.client
    token = issue_token(ctx.secret, device["serial_number"], "1.2.0")
    auth = {"Authorization": f"Bearer {token}"}
    res = client.get("/ota/1.2.0/manifest.json", headers=auth)
    assert res.status_code == 200 and res.json() == manifest_for(FILES)
    for path, body in FILES.items():
        res = client.get(f"/ota/1.2.0/{path}", headers=auth)
        assert res.status_code == 200 and res.content == body, path
    # a session (even an admin's) is no OTA token
    res = client.get("/ota/1.2.0/manifest.json")
    assert res.status_code == 401 and "Bearer <OTA token>" in res.json()["error"]
    assert (
        client.get("/ota/1.2.0/lib/app.mpy", headers={"Authorization": "Bearer junk"}).status_code
        == 401
    )
    expired = issue_token(
        ctx.secret, device["serial_number"], "1.2.0", now=time.time() - ota.TOKEN_TTL_S - 1
    )
    res = client.get("/ota/1.2.0/main.py", headers={"Authorization": f"Bearer {expired}"})
    assert res.status_code == 401 and "expired" in res.json()["error"]
    other = issue_token(ctx.secret, device["serial_number"], "0.9.0")
    res = client.get("/ota/1.2.0/main.py", headers={"Authorization": f"Bearer {other}"})
    assert res.status_code == 403
    ghost = issue_token(ctx.secret, "NO-SUCH-DEVICE", "1.2.0")
    assert (
        client.get("/ota/1.2.0/main.py", headers={"Authorization": f"Bearer {ghost}"}).status_code
        == 401
    )
    # only the manifest and what it lists are served
    for path in ("boot.py", "../../session_secret", "lib/../../../session_secret", "lib"):
        assert client.get(f"/ota/1.2.0/{path}", headers=auth).status_code == 404, path
    token_x = issue_token(ctx.secret, device["serial_number"], "..")
    assert client.get(
        "/ota/../session_secret", headers={"Authorization": f"Bearer {token_x}"}
    ).status_code in (401, 404)


def test_ota_command_carries_url_and_token(
    admin_api: Any, device: dict[str, Any], control: Listener, ctx: Any, app: Any
) -> None:
    assert upload(admin_api, tar_gz(bundle_entries())).status_code == 201
    url = f"/api/devices/{device['id']}/commands"
    res = admin_api.post(url, json={"cmd": "ota", "args": {"version": "1.2.0"}})
    assert res.status_code == 202, res.text
    sent = res.json()
    assert sent["args"] == {"version": "1.2.0", "url": "http://testserver/ota/1.2.0/manifest.json"}
    (message,) = control.wait(1)
    args = message["args"]
    assert args["url"] == sent["args"]["url"] and args["version"] == "1.2.0"
    assert check_token(ctx.secret, args["token"], "1.2.0") == device["serial_number"]
    assert "token" not in json.dumps(admin_api.get(url).json())  # never stored or shown
    res = admin_api.client.get(
        "/ota/1.2.0/manifest.json", headers={"Authorization": f"Bearer {args['token']}"}
    )
    assert res.status_code == 200
    row = admin_api.get(f"{url}/{sent['id']}").json()
    assert row["status"] == "pending"
    # an explicit address for devices; https (the firmware's http_get cannot) is refused
    res = admin_api.post(
        url,
        json={"cmd": "ota", "args": {"version": "1.2.0", "base_url": "http://192.168.1.10:3000"}},
    )
    assert res.json()["args"]["url"] == "http://192.168.1.10:3000/ota/1.2.0/manifest.json"
    https = TestClient(app, base_url="https://testserver")  # no second lifespan
    try:
        login = https.post("/api/auth/login", json={"username": "root", "password": ADMIN_PASSWORD})
        https.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        res = https.post(url, json={"cmd": "ota", "args": {"version": "1.2.0"}})
    finally:
        https.close()
    assert res.status_code == 422, res.text
    assert (
        "https://testserver, but the firmware downloads over plain http://" in res.json()["error"]
    )


def test_a_real_firmware_build_is_accepted(tmp_path: Any) -> None:
    """What `meterhub firmware build` writes, packed as the docs say, passes every check."""
    import subprocess

    from meterhub.firmware.build import build
    from meterhub.firmware.paths import FirmwareError, tool
    from tests.support import require

    try:
        tool("mpy-cross")
    except FirmwareError as exc:
        require(False, f"mpy-cross is needed to build the firmware: {exc}")
    built = build(tmp_path / "firmware")
    archive = tmp_path / "fw.tar.gz"
    subprocess.run(["tar", "czf", str(archive), "-C", str(built.out), "."], check=True)
    bundle = ota.read_bundle(archive.read_bytes())
    assert bundle.version == built.version
    assert {f.path for f in bundle.files} == {str(f["path"]) for f in built.files}
    assert "boot.py" not in bundle.contents
