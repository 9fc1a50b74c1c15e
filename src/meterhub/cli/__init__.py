"""The `meterhub` command line."""
