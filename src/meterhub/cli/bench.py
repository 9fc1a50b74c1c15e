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
    workers: Annotated[
        str | None,
        typer.Option(
            help="For `ingest`: measure N shared ingest workers (--shared) for each N of "
            "this list, e.g. 1,2,4; needs --database."
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            help="For `ingest --workers`: a PostgreSQL URL; each trial creates (and drops) "
            "its own database beside it."
        ),
    ] = None,
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

    if workers is not None or database is not None:
        _shared(cases, workers, database, "quick" if quick else "full", keep)
        return
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


def _shared(
    cases: list[str] | None, workers: str | None, database: str | None, size: str, keep: bool
) -> None:
    """`bench ingest --workers 1,2,4 --database postgresql://...`."""

    def refuse(message: str) -> None:
        typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)

    if cases != ["ingest"]:
        refuse("--workers and --database go with the ingest case alone: bench ingest --workers")
    if not database or not database.startswith("postgresql"):
        refuse("--workers needs --database postgresql://... (shared ingest takes PostgreSQL)")
    try:
        counts = [int(n) for n in (workers or "1,2").split(",")]
    except ValueError:
        counts = []
    if not counts or any(not 1 <= n <= 16 for n in counts):
        refuse(f"--workers {workers!r} must be a list of worker counts 1-16, e.g. 1,2,4")
    import shutil
    import tempfile

    from meterhub.bench import shared

    workdir = Path(tempfile.mkdtemp(prefix="meterhub-bench-"))
    try:
        result = shared.run(size, workdir, counts, database)  # type: ignore[arg-type]
        typer.echo(result.table())
    finally:
        if keep:
            typer.echo(f"work files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
