"""The layering of src/meterhub, checked on the source (an AST walk, so imports inside
functions count too): what a package may import of ours tells the story of the code.

* ``protocol`` is pure: it imports nothing of meterhub but itself;
* ``ingest`` (receiver, writer process) builds on ``protocol`` and ``store``, never on the
  web side or the read side;
* ``store`` (the write side) never imports ingest or the web side;
* ``api`` goes through ``services`` and the read side, never ingest, store or live;
* ``live`` never imports ``api`` (nor pages): both share ``meterhub.context``;
* ``telemetry`` (the read side) never imports ingest or the web side.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "meterhub"

WEB_SIDE = ("meterhub.api", "meterhub.web", "meterhub.live")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "ingest": (*WEB_SIDE, "meterhub.services", "meterhub.telemetry.queries", "meterhub.cli"),
    "store": (*WEB_SIDE, "meterhub.ingest", "meterhub.services", "meterhub.cli"),
    "api": ("meterhub.ingest", "meterhub.store", "meterhub.live", "meterhub.web"),
    "live": ("meterhub.api", "meterhub.web", "meterhub.ingest", "meterhub.store"),
    "telemetry": (*WEB_SIDE, "meterhub.ingest", "meterhub.services"),
}


def _our_imports(path: Path) -> set[str]:
    """Every ``meterhub...`` module a file imports, relative imports resolved."""
    module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "meterhub" or name.startswith("meterhub.")}


def _files(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def _hits(imports: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(i for i in imports if any(i == p or i.startswith(p + ".") for p in prefixes))


def test_the_walk_sees_imports() -> None:
    """The checker itself: a file known to import the store is seen doing so."""
    assert "meterhub.store" in _our_imports(SRC / "ingest" / "writer_main.py")
    assert _files("protocol"), "no protocol package found"


def test_protocol_imports_nothing_of_ours() -> None:
    bad = {
        str(path.relative_to(SRC)): sorted(
            i for i in _our_imports(path) if not i.startswith("meterhub.protocol")
        )
        for path in _files("protocol")
    }
    assert {k: v for k, v in bad.items() if v} == {}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering(package: str) -> None:
    files = _files(package)
    assert files, f"src/meterhub/{package} is empty"
    bad = {
        str(path.relative_to(SRC)): _hits(_our_imports(path), FORBIDDEN[package]) for path in files
    }
    assert {k: v for k, v in bad.items() if v} == {}
