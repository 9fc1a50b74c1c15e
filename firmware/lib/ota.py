"""Over-the-air update: download the files of a manifest, verify, swap in, roll back on failure.

Manifest (same format as `meterhub firmware build` writes):
  {"version": "1.2.0", "files": [{"path": "lib/app.mpy", "sha256": "...", "size": 1234}]}
File URLs are relative to the manifest URL. Steps:
  1. download every file into ota_new/ checking size and sha256 (nothing changes on error)
  2. move the current files to ota_old/, the new ones into place, write ota_state.json
  3. reboot; boot.py counts boot attempts in ota_state.json and puts ota_old/ back
     when the new code did not confirm itself within MAX_ATTEMPTS boots
  4. the app calls confirm() once it is connected: ota_old/ and the marker go.
"""
import binascii
import hashlib
import json

import flashfs
import http_get

NEW = "ota_new"
OLD = "ota_old"
STATE = "ota_state.json"
RESULT = "ota_result.json"
PROTECTED = ("boot.py", "config.json")  # boot.py holds the rollback; never replaced remotely


def _url_join(base, path):
    return base.rsplit("/", 1)[0] + "/" + path


def _check_path(path):
    if path in PROTECTED or path.startswith("/") or ".." in path or path.startswith("ota_"):
        raise ValueError("refusing to install " + path)


def download(manifest_url, token=None, get=None):
    """Fetch and verify everything into ota_new/; returns the manifest. ValueError/OSError on failure."""
    get = get or http_get.get
    headers = {"Authorization": "Bearer " + token} if token else {}
    buf = []
    get(manifest_url, buf.append, headers)
    manifest = json.loads(b"".join(buf))
    buf = None
    files = manifest["files"]
    flashfs.remove_tree(NEW)
    try:
        for entry in files:
            path = entry["path"]
            _check_path(path)
            target = NEW + "/" + path
            flashfs.makedirs(target.rsplit("/", 1)[0])
            h = hashlib.sha256()
            with open(target, "wb") as f:
                def sink(chunk):
                    h.update(chunk)
                    f.write(chunk)
                size = get(_url_join(manifest_url, path), sink, headers)
            digest = binascii.hexlify(h.digest()).decode()
            if size != entry["size"] or digest != entry["sha256"]:
                raise ValueError("checksum mismatch for " + path)
    except Exception:
        flashfs.remove_tree(NEW)
        raise
    return manifest


def swap(manifest):
    """Move the verified files into place, keeping the old ones for rollback."""
    flashfs.remove_tree(OLD)
    installed = []
    for entry in manifest["files"]:
        path = entry["path"]
        if flashfs.exists(path):
            flashfs.makedirs((OLD + "/" + path).rsplit("/", 1)[0])
            flashfs.replace(path, OLD + "/" + path)
        if "/" in path:
            flashfs.makedirs(path.rsplit("/", 1)[0])
        flashfs.replace(NEW + "/" + path, path)
        installed.append(path)
    flashfs.write_json(STATE, {"version": manifest["version"], "files": installed, "attempts": 0})
    flashfs.remove_tree(NEW)


def install(manifest_url, token=None, get=None):
    manifest = download(manifest_url, token, get)
    swap(manifest)
    return manifest["version"]


def pending():
    return flashfs.exists(STATE)


def confirm():
    """The new code runs: keep it."""
    if not pending():
        return None
    state = flashfs.read_json(STATE, {})
    flashfs.remove_tree(OLD)
    flashfs.remove(STATE)
    flashfs.write_json(RESULT, {"version": state.get("version"), "ok": True})
    return state.get("version")
