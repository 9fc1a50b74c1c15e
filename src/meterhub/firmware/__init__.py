"""Device tooling for the MicroPython firmware in ``firmware/``: build, flash,
upload, configure, the firmware test suite and virtual meters on a PC."""
