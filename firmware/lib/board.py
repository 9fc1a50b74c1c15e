"""The seam between the firmware and the hardware.

On a board this is board_esp (machine, network, ntptime). On a PC, where those
modules do not exist, firmware/host/host_board.py (never uploaded) stands in
with a PZEM emulator, a Wi-Fi that is always up and a flash directory.
"""

try:
    from board_esp import *  # noqa: F403
except ImportError:
    from host_board import *  # noqa: F403
