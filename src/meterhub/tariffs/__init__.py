"""Tariffs as data and the pure cost engine (no I/O): `model` parses and validates a
tariff document, `engine` costs energy per day and per billing cycle with it."""
