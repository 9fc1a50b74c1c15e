"""Run benchmark cases, print their tables and JSON, and keep the results file."""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

import orjson

from meterhub.bench.common import CaseResult, Size, machine, versions

CASES = ("ingest", "latency", "queries", "tariffs", "memory", "alerts")
"""Case names, in run order; each is a module `meterhub.bench.<name>` with `run(size, dir)`."""


def run_case(name: str, size: Size, workdir: Path) -> CaseResult:
    """One case; a failure becomes a result that says so (the other cases still run)."""
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; choose from {', '.join(CASES)}")
    module: Any = importlib.import_module(f"meterhub.bench.{name}")
    start = time.monotonic()
    case_dir = workdir / name
    case_dir.mkdir(parents=True, exist_ok=True)
    try:
        result: CaseResult = module.run(size, case_dir)
    except Exception as exc:
        result = CaseResult(name)
        result.figures["error"] = f"{type(exc).__name__}: {exc}"
        result.rows.append(["error", f"{type(exc).__name__}: {exc}", "", "NO"])
        result.note("traceback: " + traceback.format_exc().strip().splitlines()[-1])
        result.note(f"logs kept in {case_dir}")
    result.seconds = time.monotonic() - start
    return result


def run(
    cases: list[str],
    size: Size,
    as_json: bool = False,
    out: Path | None = None,
    keep: bool = False,
    stream: TextIO | None = None,
) -> list[CaseResult]:
    """Run `cases` (all when empty) at `size`; tables go to stderr when `as_json`, and
    one JSON object per case to stdout. `out` receives all results as one JSON file."""
    stream = stream or sys.stdout
    table_stream = sys.stderr if as_json else stream
    chosen = cases or list(CASES)
    for name in chosen:
        if name not in CASES:
            raise ValueError(f"unknown case {name!r}; choose from {', '.join(CASES)}")
    workdir = Path(tempfile.mkdtemp(prefix="meterhub-bench-"))
    results: list[CaseResult] = []
    failed = False
    try:
        m = machine()
        print(
            f"meterhub bench ({size}) on {m['cores']} cores, {m['cpu_model']}; "
            f"versions {versions()}",
            file=table_stream,
        )
        for name in chosen:
            result = run_case(name, size, workdir)
            failed = failed or "error" in result.figures
            results.append(result)
            print(result.table(), file=table_stream, flush=True)
            if as_json:
                stream.write(orjson.dumps(result.as_json(size)).decode() + "\n")
                stream.flush()
    finally:
        if keep or failed:
            print(f"work files kept in {workdir}", file=table_stream)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if out is not None:
        save(results, size, out)
    return results


def save(results: list[CaseResult], size: Size, out: Path) -> None:
    """All results in one file: flat figures on top, each case's detail under `cases`."""
    figures: dict[str, Any] = {}
    for r in results:
        figures.update({k: v for k, v in r.figures.items() if k != "error"})
    doc = {
        "size": size,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "versions": versions(),
        "figures": figures,
        "cases": {r.case: r.as_json(size) for r in results},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
