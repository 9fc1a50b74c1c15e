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
MAX_MANIFEST = (
    8192  # bytes (a build of 19 files writes 2.6 KB); longer is refused while it downloads
)
MAX_FILE = 65536  # bytes per file (the largest .mpy is about 10 KB)


def _url_join(base, path):
    return base.rsplit("/", 1)[0] + "/" + path


def _check_path(path):
    """Only plain relative paths: every segment a real name. `./boot.py`, `a/./b`,
    `a//b`, `../x`, `/x` and backslashes are refused, so no spelling reaches a
    protected file or the OTA folders."""
    if not isinstance(path, str) or not path or len(path) > 64 or "\\" in path:
        raise ValueError("refusing to install %r" % (path,))
    segs = path.split("/")
    for seg in segs:
        if seg in ("", ".", ".."):
            raise ValueError("refusing to install " + path)
    if path in PROTECTED or segs[0].startswith("ota_"):
        raise ValueError("refusing to install " + path)


def _bounded(sink, limit, what):
    """A sink that aborts the download as soon as more than `limit` bytes arrived."""
    got = [0]

    def take(chunk):
        got[0] += len(chunk)
        if got[0] > limit:
            raise ValueError("%s is longer than %d bytes" % (what, limit))
        sink(chunk)

    return take


def download(manifest_url, token=None, get=None, manifest_sha256=None):
    """Fetch and verify everything into ota_new/; returns the manifest. ValueError/OSError
    on failure. With manifest_sha256 (from a signed command) the manifest itself must
    hash to it, which extends the command's signature to every file it lists."""
    get = get or http_get.get
    headers = {"Authorization": "Bearer " + token} if token else {}
    buf = []
    get(manifest_url, _bounded(buf.append, MAX_MANIFEST, "manifest"), headers)
    raw = b"".join(buf)
    buf = None
    if (
        manifest_sha256 is not None
        and binascii.hexlify(hashlib.sha256(raw).digest()).decode() != manifest_sha256
    ):
        raise ValueError("manifest does not match the signed command's sha256")
    manifest = json.loads(raw)
    raw = None
    files = manifest["files"]
    flashfs.remove_tree(NEW)
    try:
        for entry in files:
            path = entry["path"]
            _check_path(path)
            expected = entry["size"]
            if not isinstance(expected, int) or not 0 <= expected <= MAX_FILE:
                raise ValueError("bad size for " + path)
            target = NEW + "/" + path
            flashfs.makedirs(target.rsplit("/", 1)[0])
            h = hashlib.sha256()
            with open(target, "wb") as f:

                def sink(chunk):
                    h.update(chunk)
                    f.write(chunk)

                size = get(_url_join(manifest_url, path), _bounded(sink, expected, path), headers)
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


def install(manifest_url, token=None, get=None, manifest_sha256=None):
    manifest = download(manifest_url, token, get, manifest_sha256)
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
