"""`python -m meterhub` runs the CLI."""

from meterhub.cli.main import main

main()
