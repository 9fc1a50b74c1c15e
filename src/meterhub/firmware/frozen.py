"""MicroPython images with the firmware frozen in (bytecode in flash, not on the heap).

Two targets, both built from a MicroPython source tree given as an input
(MICROPYTHON_SRC: a directory or a .tar.gz of MicroPython's source):

- the 32-bit Unix port used by the tests (``unix32_binary``): objects the size
  they are on an ESP8266, firmware and host stand-ins frozen in, cached under
  ``~/.cache/meterhub`` (METERHUB_CACHE overrides) keyed by a hash of the source
  and of everything frozen, so repeated runs reuse it;
  with mbedTLS (as on the ESP32) when its source is there (``MBEDTLS_SRC``, or a
  MicroPython checkout with its lib/mbedtls submodule), so the mqtts heap cost can
  be measured; the release tarball has no submodules, and then the build has no TLS;
- a board image (``board_image``, ESP8266 or ESP32) where that board's toolchain
  is installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from meterhub.firmware import deps
from meterhub.firmware.paths import FirmwareError, dist_dir, firmware_dir

SRC_ENV = "MICROPYTHON_SRC"
MBEDTLS_ENV = "MBEDTLS_SRC"  # an mbedTLS 3.6 source tree or .tar.gz (include/, library/)
BOARDS = {"esp8266": "ESP8266_GENERIC", "esp32": "ESP32_GENERIC"}
# What tells a board's toolchain is there, and how to get it (one line each).
TOOLCHAINS = {
    "esp8266": (
        "xtensa-lx106-elf-gcc",
        "the ESP8266 toolchain (xtensa-lx106-elf-gcc) is not on PATH: build inside "
        "MicroPython's esp8266 container or install esp-open-sdk (docs/firmware.md)",
    ),
    "esp32": (
        "idf.py",
        "ESP-IDF (idf.py) is not on PATH: install ESP-IDF and source its export.sh "
        "(docs/firmware.md)",
    ),
}


def cache_root() -> Path:
    return Path(os.environ.get("METERHUB_CACHE") or Path.home() / ".cache" / "meterhub")


def source_path(src: str | os.PathLike[str] | None = None) -> Path:
    """The MicroPython source given (argument, else MICROPYTHON_SRC); FirmwareError if none."""
    value = src or os.environ.get(SRC_ENV)
    if not value:
        raise FirmwareError(
            f"no MicroPython source: set {SRC_ENV} to a source directory or tarball"
        )
    path = Path(value).expanduser().resolve()
    if not path.exists():
        raise FirmwareError(f"{SRC_ENV}: {path} does not exist")
    return path


def _hash_files(h: hashlib._Hash, files: list[Path], root: Path) -> None:
    for f in sorted(files):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")


def _source_key(src: Path) -> str:
    h = hashlib.sha256()
    if src.is_file():
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    else:  # a working tree: its path and the files that define the build
        h.update(str(src).encode())
        _hash_files(h, [p for p in (src / "py").glob("*.[ch]")], src)
    return h.hexdigest()[:16]


def frozen_inputs() -> list[Path]:
    """Every file that ends up frozen in the Unix test build (its cache key)."""
    fw = firmware_dir()
    lib = deps.ensure_all()
    files = [
        fw / "manifest.py",
        *sorted((fw / "frozen").rglob("*")),
        *(fw / "lib").glob("*.py"),
        *(fw / "host").glob("*.py"),
        *lib.rglob("*.py"),
    ]
    return [f for f in files if f.is_file()]


def _unix32_key(src: Path) -> str:
    h = hashlib.sha256(_source_key(src).encode())
    _hash_files(h, frozen_inputs(), firmware_dir())
    return h.hexdigest()[:16]


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """One build at a time per cache (parallel test runs share it)."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _unpacked(src: Path) -> Path:
    """A source directory: src itself, or the tarball unpacked once into the cache."""
    if src.is_dir():
        return src
    dest = cache_root() / f"micropython-src-{_source_key(src)}"
    if not (dest / "py" / "mpconfig.h").exists():
        tmp = Path(tempfile.mkdtemp(prefix="unpack-", dir=cache_root()))
        with tarfile.open(src) as tar:
            tar.extractall(tmp, filter="data")
        tops = [p for p in tmp.iterdir() if p.is_dir()]
        top = tops[0] if len(tops) == 1 and not (tmp / "py").exists() else tmp
        if not (top / "py" / "mpconfig.h").exists():
            shutil.rmtree(tmp, ignore_errors=True)
            raise FirmwareError(f"{src} is not a MicroPython source tree (no py/mpconfig.h)")
        top.rename(dest)
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _make(args: list[str], what: str) -> None:
    proc = subprocess.run(["make", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        hint = ""
        if any("stubs-32.h" in line or "-m32" in line for line in tail):
            hint = " (the 32-bit build needs gcc-multilib: apt-get install gcc-multilib)"
        raise FirmwareError(f"{what} failed{hint}:\n" + "\n".join(tail))


def _empty_lib_dir() -> Path:
    """MPY_LIB_DIR for builds whose manifests need nothing from micropython-lib
    (the build only checks that a README.md is there)."""
    d = cache_root() / "no-micropython-lib"
    d.mkdir(parents=True, exist_ok=True)
    (d / "README.md").write_text("Empty: the meterhub manifests need no micropython-lib.\n")
    return d


def _with_mbedtls(tree: Path) -> bool:
    """Whether `tree` can build MicroPython's ssl module: lib/mbedtls is populated, or
    is filled here from MBEDTLS_SRC (a directory or .tar.gz of mbedTLS 3.6)."""
    lib = tree / "lib" / "mbedtls"
    if (lib / "include" / "mbedtls" / "ssl.h").exists():
        return True
    given = os.environ.get(MBEDTLS_ENV)
    if not given:
        return False
    src = Path(given).expanduser()
    tmp = Path(tempfile.mkdtemp(prefix="mbedtls-", dir=cache_root()))
    try:
        if src.is_dir():
            shutil.copytree(src, tmp / "m")
            top = tmp / "m"
        else:
            with tarfile.open(src) as tar:
                tar.extractall(tmp, filter="data")
            tops = [p for p in tmp.iterdir() if p.is_dir()]
            top = tops[0] if len(tops) == 1 and not (tmp / "include").exists() else tmp
        if not (top / "include" / "mbedtls" / "ssl.h").exists():
            raise FirmwareError(f"{MBEDTLS_ENV}={given} is not an mbedTLS source tree")
        shutil.rmtree(lib, ignore_errors=True)
        top.rename(lib)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def unix32_binary(
    src: str | os.PathLike[str] | None = None, progress: Callable[[str], None] = lambda _: None
) -> Path:
    """Path of the 32-bit frozen Unix build, building it (or only relinking) if needed.
    It has the ssl module (mbedTLS) when the mbedTLS source is there (see _with_mbedtls)."""
    source = source_path(src)
    with _locked("micropython-unix32"):
        if shutil.which("make") is None or shutil.which("gcc") is None:
            raise FirmwareError("building MicroPython needs make and gcc (and gcc-multilib)")
        tree = _unpacked(source)
        tls = _with_mbedtls(tree)
        flavour = "-tls" if tls else ""
        out = cache_root() / f"micropython-{_unix32_key(source)}{flavour}" / "micropython"
        if out.exists():
            return out
        jobs = f"-j{os.cpu_count() or 1}"
        if not (tree / "mpy-cross" / "build" / "mpy-cross").exists():
            progress("building mpy-cross (once per source tree) ...")
            _make(["-C", str(tree / "mpy-cross"), jobs], "building mpy-cross")
        # The build folder is kept per source tree (and TLS or not: make does not see a
        # flag change): a firmware change only refreezes and relinks.
        build = cache_root() / f"build-unix32-{_source_key(source)}{flavour}"
        # makemanifest reuses a frozen .mpy when its source is not newer, so an older
        # firmware (a checkout of a past commit) would get the newer bytecode: recompile.
        shutil.rmtree(build / "frozen_mpy", ignore_errors=True)
        progress("building the 32-bit MicroPython Unix port with the firmware frozen in ...")
        heap_config = firmware_dir() / "frozen" / "unix32" / "mbedtls_config_heap.h"
        ssl = (
            [
                "MICROPY_PY_SSL=1",
                "MICROPY_SSL_MBEDTLS=1",
                # quoted for the shell make runs the compiler through (as its default is)
                f'MBEDTLS_CONFIG_FILE=\\"{heap_config}\\"',
            ]
            if tls
            else []
        )
        _make(
            [
                "-C",
                str(tree / "ports" / "unix"),
                jobs,
                f"VARIANT_DIR={firmware_dir() / 'frozen' / 'unix32'}",
                f"BUILD={build}",
                f"MPY_LIB_DIR={_empty_lib_dir()}",
                *ssl,
            ],
            "building the 32-bit Unix port",
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        shutil.copyfile(build / "micropython", tmp)
        tmp.chmod(0o755)
        tmp.rename(out)
    return out


def board_image(
    board: str,
    src: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Build a flashable image for `board` (esp8266 or esp32) into dist/; FirmwareError
    with one line when the board's toolchain is not installed."""
    if board not in BOARDS:
        raise FirmwareError(f"unknown board {board!r}: choose {' or '.join(BOARDS)}")
    exe, missing = TOOLCHAINS[board]
    if shutil.which(exe) is None:
        raise FirmwareError(missing)
    tree = _unpacked(source_path(src))
    deps.ensure_all()
    port = tree / "ports" / board
    manifest = firmware_dir() / "frozen" / "board.py"
    if not (tree / "mpy-cross" / "build" / "mpy-cross").exists():
        progress("building mpy-cross ...")
        _make(["-C", str(tree / "mpy-cross")], "building mpy-cross")
    progress(f"building MicroPython for {BOARDS[board]} with the firmware frozen in ...")
    _make(
        ["-C", str(port), f"BOARD={BOARDS[board]}", f"FROZEN_MANIFEST={manifest}", "submodules"],
        "fetching the port's submodules",
    )
    _make(
        ["-C", str(port), f"BOARD={BOARDS[board]}", f"FROZEN_MANIFEST={manifest}"],
        f"building the {board} image",
    )
    built = port / f"build-{BOARDS[board]}" / "firmware.bin"
    if not built.exists():
        raise FirmwareError(f"the build finished but {built} is missing")
    dest = dist_dir().parent / f"micropython-{board}-meterhub.bin"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, dest)
    return dest
