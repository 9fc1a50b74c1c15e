"""plotly.js, served from the installed `plotly` package (never copied into the repo).

The file is read and gzip-compressed once, then answered with a strong ETag and a year-long
Cache-Control; pages link it with `?v=<version>` so an upgrade changes the URL. Only the
compressed form stays in memory (1.4 MB): the rare client that does not take gzip gets
the file read again, rather than every server holding 4.6 MB for it.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import plotly
from fastapi import APIRouter, Request, Response

PLOTLY_PATH = "/static/vendor/plotly.min.js"
PLOTLY_CSS_PATH = "/static/vendor/plotly.css"
CACHE_CONTROL = "public, max-age=31536000, immutable"
PLOTLY_FILE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
_lock = threading.Lock()


@dataclass(frozen=True)
class Asset:
    """A file's gzip-compressed form in memory; its plain form is `body`, or `path` read
    again for each request that wants it."""

    body: bytes | None
    gzipped: bytes
    etag: str
    media_type: str
    path: Path | None = None

    def plain(self) -> bytes:
        if self.body is not None:
            return self.body
        assert self.path is not None
        return self.path.read_bytes()


def load_asset(path: Path, media_type: str) -> Asset:
    """Read `path` and prepare its compressed form (the plain one stays on disk)."""
    asset = make_asset(path.read_bytes(), media_type)
    return Asset(None, asset.gzipped, asset.etag, media_type, path)


def make_asset(body: bytes, media_type: str) -> Asset:
    """`body` in both encodings, with its ETag."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    return Asset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        etag=f'"{digest}"',
        media_type=media_type,
    )


@cache
def _plotly() -> Asset:
    return load_asset(PLOTLY_FILE, "text/javascript; charset=utf-8")


def plotly_asset() -> Asset:
    """The plotly.js asset (loaded on first use; `warm()` loads it at startup)."""
    with _lock:
        return _plotly()


def plotly_url() -> str:
    """The URL pages link, versioned so browsers may cache it for a year."""
    return f"{PLOTLY_PATH}?v={plotly.__version__}"


def plotly_css_url() -> str:
    return f"{PLOTLY_CSS_PATH}?v={plotly.__version__}"


# plotly.js adds its stylesheet (modebar, hover labels) as an inline <style>, which the CSP
# forbids. It skips that when the page has an element with id "plotly.js-style-global" and
# class "no-inline-styles"; the pages link this stylesheet under that id instead. Its rules
# are read from the bundle itself: the object literal of "X selector": "declarations".
_RULES_START = re.compile(r'\{"X,X div":')
_STRING = r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
_PAIR = re.compile(rf"""\s*({_STRING}|[A-Za-z_$][\w$]*)\s*:\s*({_STRING})\s*([,}}])""")


def plotly_css(js: str) -> str:
    """plotly.js's own style rules as a stylesheet ("" when the bundle's layout changed)."""
    start = _RULES_START.search(js)
    if start is None:
        return ""
    rules: list[str] = []
    pos = start.start() + 1
    while True:
        match = _PAIR.match(js, pos)
        if match is None:
            return ""
        selector, body = (_unquote(m) for m in (match[1], match[2]))
        selector = selector.replace(",", " ,", 1) if selector.startswith(",") else selector
        selector = selector.replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        rules.append(f"{selector}{{{body}}}")
        pos = match.end()
        if match[3] == "}":
            return "\n".join(rules) + "\n"


def _unquote(token: str) -> str:
    if token[:1] in "'\"":
        token = token[1:-1]
    return token.replace('\\"', '"').replace("\\'", "'")


_GUARDED_STYLE = re.compile(
    r'document\.getElementById\("([\w-]{8,128})"\)\)\{var \w+=document\.createElement\("style"\)'
)


@cache
def plotly_style_guards() -> tuple[str, ...]:
    """Ids of the inline stylesheets bundled parts of plotly.js (map styles) add unless an
    element with that id exists: pages put inert elements with these ids in their head."""
    return tuple(dict.fromkeys(_GUARDED_STYLE.findall(PLOTLY_FILE.read_text(encoding="utf-8"))))


@cache
def _plotly_css() -> Asset:
    css = plotly_css(PLOTLY_FILE.read_text(encoding="utf-8"))
    if not css:
        log.warning("could not read plotly.js's style rules; charts' toolbars look plain")
    return make_asset(css.encode(), "text/css; charset=utf-8")


def plotly_css_asset() -> Asset:
    with _lock:
        return _plotly_css()


def warm() -> None:
    """Read and compress plotly.js in the background so the first page is fast."""
    threading.Thread(target=plotly_asset, name="meterhub-plotly-warm", daemon=True).start()


def accepts_gzip(request: Request) -> bool:
    """Whether the client listed gzip (without q=0) in Accept-Encoding."""
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def serve(asset: Asset, request: Request) -> Response:
    """`asset` with caching headers; 304 when the client has it, gzip when accepted."""
    headers = {"cache-control": CACHE_CONTROL, "etag": asset.etag, "vary": "Accept-Encoding"}
    match = request.headers.get("if-none-match", "")
    if asset.etag in {tag.strip().removeprefix("W/") for tag in match.split(",")} or match == "*":
        return Response(status_code=304, headers=headers)
    if accepts_gzip(request):
        headers["content-encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.plain(), media_type=asset.media_type, headers=headers)


@router.get(PLOTLY_PATH)
def plotly_js(request: Request) -> Response:
    """plotly.min.js from the installed package."""
    return serve(plotly_asset(), request)


@router.get(PLOTLY_CSS_PATH)
def plotly_stylesheet(request: Request) -> Response:
    """plotly.js's style rules, as a stylesheet the CSP allows."""
    return serve(plotly_css_asset(), request)
