"""Small file helpers for the board's flash (same code on the PC, in a directory)."""

import json
import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def makedirs(path):
    cur = ""
    for part in path.split("/"):
        if not part:
            cur = "/"
            continue
        cur = cur + part if cur in ("", "/") else cur + "/" + part
        if not exists(cur):
            os.mkdir(cur)


def is_dir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def remove_tree(path):
    if not exists(path):
        return
    if is_dir(path):
        for name in os.listdir(path):
            remove_tree(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)


def replace(src, dst):
    """Rename src over dst. FAT on older ports refuses to rename onto a file."""
    try:
        os.rename(src, dst)
    except OSError:
        remove(dst)
        os.rename(src, dst)


def atomic_write(path, data):
    """Write to a temp file, then rename: a power cut leaves the old or the new file, never half."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(data)
    replace(tmp, path)


def read_json(path, default=None):
    """Parsed JSON from path; a left-over temp file is used if the rename never happened."""
    for p in (path, path + ".tmp"):
        try:
            with open(p) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    return default


def write_json(path, obj):
    atomic_write(path, json.dumps(obj))
