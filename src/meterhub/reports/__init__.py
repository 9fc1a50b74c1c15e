"""Printable reports built from the cost engine (the monthly report per user)."""
