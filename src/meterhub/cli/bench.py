"""`meterhub bench [CASE...] [--json] [--quick]`: measure ingest, live latency, queries
and memory (see docs/performance.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from meterhub.bench.runner import CASES

app = typer.Typer(add_completion=False)


@app.command()
def bench(
    cases: Annotated[
        list[str] | None,
        typer.Argument(
            help=f"Cases to run (default: all): {', '.join(CASES)}.", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Also print one JSON object per case on stdout (tables go to stderr)."
        ),
    ] = False,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Smaller loads (about 3 minutes in all; figures less steady)."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Write all results to this JSON file (e.g. bench/results/latest.json)."),
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the work directory (databases, logs).")] = False,
    minutes: Annotated[
        float, typer.Option(help="For `soak`: how long to run the whole system under load.")
    ] = 30.0,
) -> None:
    """Measure meterhub on this machine; every figure comes with a baseline measured in
    the same run, so ratios hold on a noisy machine. `meterhub bench soak --minutes N`
    runs the whole system for N minutes and reports memory, open files and database
    growth per process (not part of the default cases)."""
    if importlib.util.find_spec("psutil") is None:
        typer.secho(
            "error: meterhub bench needs the bench extra: pip install 'meterhub[bench]'",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(2)
    from meterhub.bench.runner import run

    if cases == ["soak"]:
        from meterhub.bench import soak

        report = soak.run(minutes)
        soak.print_report(report)
        if report["error_count"]:
            raise typer.Exit(1)
        return

    unknown = [c for c in cases or [] if c not in CASES]
    if unknown:
        typer.secho(
            f"error: unknown case {unknown[0]!r}; choose from {', '.join(CASES)}",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(2)
    results = run(
        list(cases or []), "quick" if quick else "full", as_json=as_json, out=out, keep=keep
    )
    if any("error" in r.figures for r in results):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
