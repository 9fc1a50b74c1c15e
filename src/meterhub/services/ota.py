"""Firmware bundles for over-the-air updates, and the short-lived tokens devices fetch
them with.

A bundle is a .zip or .tar.gz of what `meterhub firmware build` writes: the built files
and `manifest.json` `{"version", "files": [{"path", "sha256", "size"}]}` (at the top, or
inside one top-level folder). Every listed file is checked (size, sha256) and every name
refused that could land outside the bundle's folder; accepted bundles are kept under
`<data dir>/ota/<version>/` and served at `/ota/<version>/<path>` to a device holding a
token for that version. The firmware (firmware/lib/ota.py) fetches the manifest, then
each file relative to it, sending `Authorization: Bearer <token>`.

A token is HMAC-signed over (serial, version, expiry) with a key derived from the app
secret: nothing is stored, it cannot be stretched to another version, and it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import tarfile
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meterhub.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MeterhubError,
    NotAuthenticated,
    NotFound,
)

OTA_DIR = "ota"  # under the data dir
URL_PREFIX = "/ota"  # where devices download bundles
MAX_BUNDLE_BYTES = 2 * 1024 * 1024  # the upload (a build is ~40 KB; sources ~120 KB)
MAX_EXTRACTED_BYTES = 8 * 1024 * 1024  # what it may unpack to (zip/gzip bombs stop here)
MAX_MEMBERS = 500
TOKEN_TTL_S = 15 * 60
TOKEN_PREFIX = "ota1"  # noqa: S105 - a format marker, not a secret
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,31}$")
PATH_RE = re.compile(r"^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$")
MAX_PATH = 200
# What the firmware refuses to install over the air (firmware/lib/ota.py `_check_path`):
# boot.py holds the rollback, config.json the device's settings, ota_* the OTA state.
PROTECTED = ("boot.py", "config.json")
MANIFEST = "manifest.json"


class TooLarge(MeterhubError):
    status_code = 413


@dataclass(frozen=True)
class BundleFile:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Bundle:
    """A checked bundle: its manifest and the bytes of every file it lists."""

    version: str
    files: list[BundleFile]
    contents: dict[str, bytes]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def manifest(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
        }


# -- reading and checking a bundle (pure) ----------------------------------------------
def read_bundle(data: bytes) -> Bundle:
    """Unpack and verify a .zip or .tar.gz bundle; InvalidInput says what is wrong."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise TooLarge(f"bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    if data[:4] == b"PK\x03\x04":
        members = _zip_members(data)
    elif data[:2] == b"\x1f\x8b":
        members = _tar_members(data)
    else:
        raise InvalidInput("bundle must be a .zip or .tar.gz archive", field="file")
    members = _strip_top_folder(members)
    raw = members.get(MANIFEST)
    if raw is None:
        raise InvalidInput(
            "bundle has no manifest.json at its top (as written by `meterhub firmware build`)",
            field="file",
        )
    version, files = parse_manifest(raw)
    contents: dict[str, bytes] = {}
    for entry in files:
        body = members.get(entry.path)
        if body is None:
            raise InvalidInput(
                f"manifest lists {entry.path} but the bundle does not contain it", field="file"
            )
        if len(body) != entry.size:
            raise InvalidInput(
                f"size mismatch for {entry.path}: manifest says {entry.size} "
                f"bytes, the file has {len(body)}",
                field="file",
            )
        if hashlib.sha256(body).hexdigest() != entry.sha256:
            raise InvalidInput(
                f"sha256 mismatch for {entry.path}: the file is not the one the manifest describes",
                field="file",
            )
        contents[entry.path] = body
    return Bundle(version, files, contents)


def parse_manifest(raw: bytes) -> tuple[str, list[BundleFile]]:
    """The version and files of a manifest.json, checked against what the firmware accepts."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("manifest.json is not valid JSON", field="file") from None
    if not isinstance(doc, dict):
        raise InvalidInput("manifest.json must be an object {version, files}", field="file")
    version = doc.get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise InvalidInput(
            "manifest version must be 1-32 characters of letters, digits and . _ + - (e.g. 1.2.0)",
            field="file",
        )
    entries = doc.get("files")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput("manifest files must be a non-empty list", field="file")
    files: list[BundleFile] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InvalidInput(f"manifest files[{n}] must be an object", field="file")
        path, digest, size = entry.get("path"), entry.get("sha256"), entry.get("size")
        if not isinstance(path, str):
            raise InvalidInput(f"manifest files[{n}].path must be a string", field="file")
        check_device_path(path)
        if path in seen:
            raise InvalidInput(f"manifest lists {path} twice", field="file")
        seen.add(path)
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise InvalidInput(f"manifest sha256 of {path} must be 64 hex digits", field="file")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(
                f"manifest size of {path} must be a whole number of bytes", field="file"
            )
        files.append(BundleFile(path, digest.lower(), size))
    return version, files


def check_device_path(path: str) -> None:
    """InvalidInput unless `path` is a relative path the firmware will install."""
    if path.startswith("/") or "\\" in path or re.match(r"^[A-Za-z]:", path):
        raise InvalidInput(
            f"refusing absolute path {path[:MAX_PATH]!r} in the bundle", field="file"
        )
    parts = path.split("/")
    if ".." in parts:
        raise InvalidInput(
            f"refusing path {path[:MAX_PATH]!r}: '..' would leave the bundle", field="file"
        )
    if len(path) > MAX_PATH or not PATH_RE.match(path) or "." in parts:
        raise InvalidInput(
            f"refusing path {path[:MAX_PATH]!r}: use letters, digits and _ . + - separated by /",
            field="file",
        )
    if path in PROTECTED or path.startswith("ota_"):
        raise InvalidInput(
            f"{path} cannot be replaced over the air (the firmware refuses it)", field="file"
        )


def _member_name(name: str) -> str | None:
    """An archive member's name, normalised; InvalidInput for names that could escape."""
    if "\x00" in name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise InvalidInput(
            f"refusing absolute path {name[:MAX_PATH]!r} in the bundle", field="file"
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(
            f"refusing path {name[:MAX_PATH]!r}: '..' would leave the bundle", field="file"
        )
    return "/".join(parts) or None


class _Budget:
    """Bounds what unpacking may produce."""

    def __init__(self) -> None:
        self.bytes = 0
        self.members = 0

    def member(self, size: int) -> None:
        self.members += 1
        self.bytes += size
        if self.members > MAX_MEMBERS:
            raise InvalidInput(f"bundle has more than {MAX_MEMBERS} entries", field="file")
        if self.bytes > MAX_EXTRACTED_BYTES:
            raise TooLarge(f"bundle unpacks to more than {MAX_EXTRACTED_BYTES} bytes")


def _add(members: dict[str, bytes], name: str, body: bytes) -> None:
    if name in members:
        raise InvalidInput(f"bundle contains {name} twice", field="file")
    members[name] = body


def _zip_members(data: bytes) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    budget = _Budget()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = _member_name(info.filename)
                mode = (info.external_attr >> 16) & 0o170000
                if info.is_dir() or name is None:
                    continue
                if mode not in (0, 0o100000):  # symlinks, devices, ...
                    raise InvalidInput(
                        f"refusing {name}: only regular files may be in a bundle", field="file"
                    )
                budget.member(info.file_size)
                with archive.open(info) as handle:
                    body = handle.read(info.file_size + 1)
                if len(body) != info.file_size:
                    raise InvalidInput(f"{name} is damaged in the zip", field="file")
                _add(members, name, body)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise InvalidInput(f"bundle is not a readable zip archive: {exc}", field="file") from None
    return members


def _tar_members(data: bytes) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    budget = _Budget()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for info in archive:
                name = _member_name(info.name)
                if info.isdir() or name is None:
                    continue
                if not info.isfile():
                    raise InvalidInput(
                        f"refusing {name}: only regular files may be in a "
                        "bundle (no links or devices)",
                        field="file",
                    )
                budget.member(info.size)
                handle = archive.extractfile(info)
                body = handle.read() if handle is not None else b""
                _add(members, name, body)
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise InvalidInput(
            f"bundle is not a readable .tar.gz archive: {exc}", field="file"
        ) from None
    return members


def _strip_top_folder(members: dict[str, bytes]) -> dict[str, bytes]:
    """Accept `firmware/manifest.json` (an archive of the build folder) like a flat one."""
    if MANIFEST in members or not members:
        return members
    tops = {name.split("/", 1)[0] for name in members}
    if len(tops) == 1:
        top = tops.pop() + "/"
        if top + MANIFEST in members:
            return {name[len(top) :]: body for name, body in members.items()}
    return members


# -- storage ----------------------------------------------------------------------------
def bundles_dir(data_dir: Path) -> Path:
    return data_dir / OTA_DIR


def store_bundle(data_dir: Path, bundle: Bundle) -> dict[str, Any]:
    """Keep `bundle` under <data>/ota/<version>/ (all or nothing); Conflict if that version
    exists (devices may be downloading it)."""
    root = bundles_dir(data_dir)
    target = root / bundle.version
    if target.exists():
        raise Conflict(
            f"firmware {bundle.version} was already uploaded; bump the version "
            "(VERSION in firmware/lib/app.py) and build again",
            field="file",
        )
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".upload-{uuid.uuid4().hex}"
    try:
        for path, body in bundle.contents.items():
            dest = staging / path
            if not dest.resolve().is_relative_to(staging.resolve()):  # checked above; twice
                raise InvalidInput(f"refusing path {path!r}", field="file")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(body)
        (staging / MANIFEST).write_text(json.dumps(bundle.manifest(), indent=1) + "\n")
        try:
            os.rename(staging, target)
        except OSError:
            raise Conflict(
                f"firmware {bundle.version} was already uploaded", field="file"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return bundle_info(target)


def load_manifest(data_dir: Path, version: str) -> dict[str, Any] | None:
    """The stored manifest of `version`, or None."""
    if not VERSION_RE.match(version):
        return None
    path = bundles_dir(data_dir) / version / MANIFEST
    try:
        doc: dict[str, Any] = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc


def bundle_info(folder: Path) -> dict[str, Any]:
    manifest = json.loads((folder / MANIFEST).read_bytes())
    files = manifest.get("files", [])
    stamp = (folder / MANIFEST).stat().st_mtime
    return {
        "version": manifest.get("version", folder.name),
        "files": len(files),
        "total_bytes": sum(int(f.get("size", 0)) for f in files),
        "uploaded_at": datetime.fromtimestamp(stamp, UTC),
        "manifest_path": f"{URL_PREFIX}/{folder.name}/{MANIFEST}",
    }


def list_bundles(data_dir: Path) -> list[dict[str, Any]]:
    """Stored bundles, newest upload first."""
    root = bundles_dir(data_dir)
    if not root.is_dir():
        return []
    found = [
        bundle_info(d)
        for d in root.iterdir()
        if VERSION_RE.match(d.name) and (d / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda b: b["uploaded_at"], reverse=True)


def file_for(data_dir: Path, version: str, path: str) -> Path:
    """The stored file a device asks for: the manifest or a file it lists (nothing else)."""
    manifest = load_manifest(data_dir, version)
    if manifest is None:
        raise NotFound(f"no firmware bundle {version[:40]!r}")
    listed = {f.get("path") for f in manifest.get("files", [])}
    if path != MANIFEST and path not in listed:
        raise NotFound(f"{path[:MAX_PATH]!r} is not part of firmware {version}")
    return bundles_dir(data_dir) / version / path


def manifest_url(base_url: str, version: str) -> str:
    return f"{base_url.rstrip('/')}{URL_PREFIX}/{version}/{MANIFEST}"


# -- tokens -----------------------------------------------------------------------------
def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"meterhub ota token v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    secret: str, serial: str, version: str, now: float | None = None, ttl_s: int = TOKEN_TTL_S
) -> str:
    """A token that lets device `serial` download firmware `version` for `ttl_s` seconds."""
    expires = int((time.time() if now is None else now) + ttl_s)
    body = _b64(json.dumps([serial, version, expires], separators=(",", ":")).encode())
    signed = f"{TOKEN_PREFIX}.{body}"
    return f"{signed}.{_b64(hmac.new(_key(secret), signed.encode(), hashlib.sha256).digest())}"


def check_token(secret: str, token: str, version: str, now: float | None = None) -> str:
    """The serial a valid token was issued to; NotAuthenticated (bad, expired) or Forbidden
    (another version)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise NotAuthenticated("invalid OTA token")
    signed = f"{parts[0]}.{parts[1]}"
    expected = _b64(hmac.new(_key(secret), signed.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        raise NotAuthenticated("invalid OTA token")
    try:
        serial, token_version, expires = json.loads(_unb64(parts[1]))
    except (ValueError, TypeError):
        raise NotAuthenticated("invalid OTA token") from None
    if not isinstance(expires, int) or (time.time() if now is None else now) >= expires:
        raise NotAuthenticated("OTA token expired; send the ota command again")
    if token_version != version:
        raise Forbidden(f"this OTA token is for firmware {token_version}, not {version[:40]}")
    return str(serial)
