"""`meterhub report --user U --cycle YYYY-MM [--out FILE]`: a user's monthly report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from meterhub.cli.common import database, fail, settings
from meterhub.db.models import User


def report(
    user: Annotated[str, typer.Option("--user", help="Username; the report shows their meters.")],
    cycle: Annotated[
        str, typer.Option(help="The billing cycle that starts in this month, YYYY-MM.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="File to write (default: report-<user>-<cycle>.html); .html only."),
    ] = None,
) -> None:
    """Write a user's monthly report: per meter, the bill of the cycle, its daily cost
    chart and the change from the cycle before. Self-contained HTML: open it in a browser
    and print it, or "Save as PDF" there."""
    from meterhub.reports import monthly

    target = out or Path(f"report-{user}-{cycle}.html")
    if target.suffix.lower() not in (".html", ".htm"):
        fail(f"{target}: the report is HTML; name the file .html (print it to PDF from a browser)")
    with database(settings()) as db:
        found = db.scalar(select(User).where(User.username == user))
        if found is None:
            fail(f"no user named {user!r}")
        html = monthly.render(monthly.build(db, found, cycle), standalone=True)
    try:
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror}")
    typer.echo(f"wrote {target} ({len(html) // 1024 + 1} KB)")
