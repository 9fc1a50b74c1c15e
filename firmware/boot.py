"""Runs first on every boot. Keeps OTA safe: counts boots of not-yet-confirmed code
and restores the previous files when the new code failed to confirm in time.
Never replaced by OTA, so this logic survives any bad update.
"""

import gc
import os

MAX_ATTEMPTS = 2


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _rmtree(p):
    if not _exists(p):
        return
    if os.stat(p)[0] & 0x4000:
        for n in os.listdir(p):
            _rmtree(p + "/" + n)
        os.rmdir(p)
    else:
        os.remove(p)


def _move(src, dst):
    try:
        os.rename(src, dst)
    except OSError:
        os.remove(dst)
        os.rename(src, dst)


def ota_boot_check():
    """Returns "none", "trying" or "rolled_back"."""
    import json

    if not _exists("ota_state.json"):
        return "none"
    try:
        with open("ota_state.json") as f:
            state = json.load(f)
    except (OSError, ValueError):
        state = {"files": [], "attempts": MAX_ATTEMPTS}
    state["attempts"] = state.get("attempts", 0) + 1
    if state["attempts"] <= MAX_ATTEMPTS:
        with open("ota_state.json.tmp", "w") as f:
            json.dump(state, f)
        _move("ota_state.json.tmp", "ota_state.json")
        return "trying"
    for path in state.get("files", []):
        if _exists("ota_old/" + path):
            _move("ota_old/" + path, path)
        elif _exists(path):
            os.remove(path)  # a file the update added
    _rmtree("ota_old")
    with open("ota_result.json", "w") as f:
        json.dump({"version": state.get("version"), "ok": False, "rolled_back": True}, f)
    os.remove("ota_state.json")
    return "rolled_back"


if __name__ == "__main__":
    try:
        ota_boot_check()
    except Exception as e:  # a broken boot.py would brick the board: never raise here
        print("boot:", e)
    gc.collect()
