# Manifest for a board image (ESP8266 or ESP32): the port's own frozen modules, then the
# firmware. Used as FROZEN_MANIFEST by `meterhub firmware build --frozen --board ...`.
include("$(PORT_DIR)/boards/manifest.py")
include("../manifest.py")
