"""The docs stay true to the tree: every file a doc or a docstring cites exists, and the
README's configuration table names exactly the settings meterhub reads."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

from meterhub.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# Top-level folders whose paths docs cite as `folder/...` (the repo layout).
TOP = r"(?:deploy|docs|src|firmware|bench|scripts|tests)"
# A Markdown link target: [text](target), without a scheme.
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A repo path at the start of a backtick span: `deploy/systemd/` or `scripts/x.sh --flag`.
BACKTICKED = re.compile(rf"`({TOP}/[^`\s]*)")
# A repo path anywhere in a docstring's prose.
BARE = re.compile(rf"(?<![\w/.-])({TOP}/[\w./-]*[\w/])")
# Not a concrete path: a pattern, a placeholder or an elision.
NOT_A_PATH = re.compile(r"[*<>{}]|\.\.\.|\$")

# Cited, but not files of the repository, each for the reason given.
NOT_REPO_FILES = {
    "firmware/.cache/lib": "made on first use by meterhub.firmware.deps (gitignored)",
    "firmware/manifest.json": "a member name inside an uploaded OTA archive",
    "deploy/.env": "the compose deployment's secrets, written by deploy/make-env.sh (gitignored)",
}

# Read outside meterhub.config.Settings, yet documented in the README's table.
NOT_IN_SETTINGS = {
    "METERHUB_DEMO": "read by start-all.sh (demo meters on a new database)",
    "FORWARDED_ALLOW_IPS": "read by uvicorn itself from the environment",
}


def _clean(path: str) -> str:
    """Drop an anchor, a line number and trailing punctuation."""
    path = path.split("#", 1)[0]
    path = re.sub(r":\d+(-\d+)?$", "", path)
    return path.rstrip(".,;:)")


@functools.cache
def doc_citations() -> list[tuple[str, Path]]:
    """(where, cited path) for every relative link and backticked repo path in the docs."""
    found: list[tuple[str, Path]] = []
    for doc in DOCS:
        text = doc.read_text()
        where = doc.relative_to(ROOT).as_posix()
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL or an anchor in the same page
            path = _clean(target)
            if path and not NOT_A_PATH.search(path):
                found.append((f"{where} link", (doc.parent / path).resolve()))
        for cited in BACKTICKED.findall(text):
            path = _clean(cited)
            if not NOT_A_PATH.search(path):
                found.append((f"{where} `{cited}`", ROOT / path))
    return found


@functools.cache
def docstring_citations() -> list[tuple[str, Path]]:
    """(where, cited path) for every repo path named in a docstring under src/."""
    found: list[tuple[str, Path]] = []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for source in sorted((ROOT / "src").rglob("*.py")):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, kinds):
                continue
            doc = ast.get_docstring(node, clean=False)
            for cited in BARE.findall(doc or ""):
                path = _clean(cited)
                if not NOT_A_PATH.search(path):
                    where = f"{source.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}"
                    found.append((where, ROOT / path))
    return found


def test_the_scanners_find_citations() -> None:
    """Guards the regexes: a scanner that finds nothing would pass everything."""
    docs = {path for _, path in doc_citations()}
    assert ROOT / "docs/operations.md" in docs  # README links it
    assert ROOT / "deploy/systemd" in docs or ROOT / "deploy/systemd/" in docs
    assert len(docstring_citations()) >= 5


def test_exempt_names_are_still_cited() -> None:
    """An exemption nobody needs any more goes (or it would hide a real file later)."""
    cited = {path for scan in (doc_citations, docstring_citations) for _, path in scan()}
    assert sorted(n for n in NOT_REPO_FILES if ROOT / n not in cited) == []


@pytest.mark.parametrize("scan", [doc_citations, docstring_citations], ids=["docs", "docstrings"])
def test_every_cited_file_exists(scan: object) -> None:
    assert callable(scan)
    exempt = {ROOT / name for name in NOT_REPO_FILES}
    missing = sorted(
        {
            f"{where}: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
            for where, path in scan()
            if not path.exists() and path not in exempt
        }
    )
    assert missing == []


def readme_config_names() -> set[str]:
    """The variable names in the first column of README.md's configuration table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", section, flags=re.MULTILINE)
    assert names, "no configuration table in README.md"
    assert len(names) == len(set(names)), "a variable is listed twice"
    return set(names)


def test_readme_configuration_table_equals_the_settings() -> None:
    settings = set(Settings.model_fields)
    assert not settings & set(NOT_IN_SETTINGS), "an exception is now a setting: drop it"
    assert readme_config_names() == settings | set(NOT_IN_SETTINGS)


def test_operations_doc_names_every_setting() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    assert sorted(n for n in Settings.model_fields if f"`{n}`" not in text) == []
