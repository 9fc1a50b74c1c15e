# Manifest for the 32-bit Unix test build: the firmware as on a board, plus the PC
# stand-ins for the hardware (host_board, the PZEM emulator, the virtual-meter entry),
# frozen too because their board counterpart (board_esp) is frozen on the board.
include("../../manifest.py")
module("host_board.py", base_path="../../host")
module("pzem_emulator.py", base_path="../../host")
module("virtual_meter.py", base_path="../../host")
