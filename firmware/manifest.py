# MicroPython manifest: the firmware frozen into an image (bytecode in flash, not heap).
#
# umqtt.simple and microdot are read from .cache/lib, where every `meterhub firmware`
# command fetches them first. boot.py and main.py stay files on the board's filesystem:
# boot.py is the OTA rollback and main.py the entry point.
include("$(MPY_DIR)/extmod/asyncio")  # microdot (the setup portal) runs on asyncio
package("umqtt", files=["simple.py"], base_path=".cache/lib")
package("microdot", files=["__init__.py", "microdot.py"], base_path=".cache/lib")
module("app.py", base_path="lib")
module("board.py", base_path="lib")
module("board_esp.py", base_path="lib")
module("clock.py", base_path="lib")
module("commands.py", base_path="lib")
module("config.py", base_path="lib")
module("flashfs.py", base_path="lib")
module("http_get.py", base_path="lib")
module("mqtt_link.py", base_path="lib")
module("ota.py", base_path="lib")
module("portal.py", base_path="lib")
module("pzem.py", base_path="lib")
module("seqno.py", base_path="lib")
module("signing.py", base_path="lib")
module("store.py", base_path="lib")
module("wifi.py", base_path="lib")
