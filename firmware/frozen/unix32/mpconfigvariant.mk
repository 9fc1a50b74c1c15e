# 32-bit Unix port with the firmware frozen in: objects are the size they are on an
# ESP8266, so `-X heapsize=N` measures what the board's heap has to hold.
MICROPY_FORCE_32BIT = 1
MICROPY_PY_FFI = 0
# No TLS unless meterhub's build passes MICROPY_PY_SSL=1 MICROPY_SSL_MBEDTLS=1 on make's
# command line (which overrides these), when the mbedTLS source is there: then mbedTLS,
# as on the ESP32, allocating on the GC heap (mbedtls_config_heap.h).
MICROPY_PY_SSL = 0
MICROPY_SSL_MBEDTLS = 0
MICROPY_SSL_AXTLS = 0
MICROPY_PY_BTREE = 0
MICROPY_VFS_LFS1 = 0
MICROPY_VFS_LFS2 = 1
FROZEN_MANIFEST ?= $(VARIANT_DIR)/manifest.py
