"""`python -m meterhub.web`: the server process that `meterhub web` and `meterhub run`
become (os.execv, same pid) once they have checked the settings and migrated, so that the
command line's modules (its other commands, the benchmark, the simulator, the firmware
tools) do not stay in the server's memory. Settings come from the environment and `.env`,
as for the command line; the options are those of `meterhub run` and `meterhub web`
(--workers), plus --ingest and --broker for what `run` adds to `web`.
"""

from __future__ import annotations

import argparse

from meterhub.config import load_settings
from meterhub.launcher import serve
from meterhub.runtime.allocator import tune_malloc
from meterhub.security.files import private_umask, secure_data_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m meterhub.web", description=__doc__)
    parser.add_argument("--host", help="Overrides HOST.")
    parser.add_argument("--port", type=int, help="Overrides PORT.")
    parser.add_argument("--ingest", action="store_true", help="Run ingest too.")
    parser.add_argument(
        "--broker", action="store_true", help="Start the embedded broker when none answers."
    )
    parser.add_argument("--demo", type=int, default=0, help="Add N simulated meters.")
    parser.add_argument("--workers", type=int, default=1, help="Web worker processes.")
    args = parser.parse_args(argv)
    tune_malloc()  # before any thread starts
    private_umask()
    cfg = load_settings()
    secure_data_dir(cfg.data_dir)
    serve(
        cfg,
        host=args.host,
        port=args.port,
        ingest=args.ingest,
        broker=args.broker,
        demo=args.demo,
        workers=args.workers,
    )


if __name__ == "__main__":
    main()
