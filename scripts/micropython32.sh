#!/usr/bin/env bash
# Build (or find in ~/.cache/meterhub) the 32-bit MicroPython Unix port with the firmware
# frozen in, which the heap tests run. Input: MICROPYTHON_SRC, a MicroPython source
# directory or tarball. Needs gcc-multilib; installed here when missing and run as root.
# Without a source or compiler it only warns: the tests then skip (fail when CI=true).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MICROPYTHON_SRC:-}" ]; then
  echo "warning: MICROPYTHON_SRC is not set; the 32-bit firmware heap tests will skip"; exit 0
fi
m32_ok() { echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null; }
if ! m32_ok && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing gcc-multilib for the 32-bit MicroPython build (apt-get) ..."
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-multilib >/dev/null \
    || echo "warning: could not install gcc-multilib"
fi
start=$(date +%s)
if bin=$(.venv/bin/meterhub firmware unix32); then
  echo "32-bit MicroPython with the firmware frozen: $bin ($(( $(date +%s) - start )) s)"
else
  echo "warning: the 32-bit MicroPython build failed; the firmware heap tests will fail or skip"
fi
exit 0
