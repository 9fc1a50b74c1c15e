"""`python -m meterhub.integrations`: the integrations process (see runner)."""

from meterhub.integrations.runner import main

main()
