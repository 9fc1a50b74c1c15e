"""Passwords, sessions, API tokens and login throttling."""
