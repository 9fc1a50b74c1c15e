"""Firmware test runner for the MicroPython Unix port (no unittest on the board side).

micropython firmware/tests/run.py [name-filter ...]
Each test_* function runs in a fresh empty directory (the "flash"). A test that
returns a coroutine is run with asyncio. Last line: "N passed, M failed".
"""

import os
import sys
import time

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
if HERE and not HERE.startswith("/"):
    HERE = os.getcwd() + "/" + HERE
sys.path.insert(0, HERE)
sys.path.insert(1, HERE.rsplit("/", 1)[0])  # firmware/ (boot.py)


def _rmtree(p):
    try:
        mode = os.stat(p)[0]
    except OSError:
        return
    if mode & 0x4000:
        for n in os.listdir(p):
            _rmtree(p + "/" + n)
        os.rmdir(p)
    else:
        os.remove(p)


def main(filters):
    base = "/tmp/meterhub-fwtest-%d" % time.time_ns()
    os.mkdir(base)
    passed = failed = 0
    names = sorted(n[:-3] for n in os.listdir(HERE) if n.startswith("test_") and n.endswith(".py"))
    for modname in names:
        mod = __import__(modname)
        for name in sorted(dir(mod)):
            if not name.startswith("test_"):
                continue
            full = modname + "." + name
            if filters and not any(f in full for f in filters):
                continue
            work = "%s/%d" % (base, passed + failed)
            os.mkdir(work)
            os.chdir(work)
            try:
                ret = getattr(mod, name)()
                if ret is not None and hasattr(ret, "send"):
                    import asyncio

                    asyncio.run(ret)
                passed += 1
                print("ok  ", full)
            except SystemExit:
                raise
            except BaseException as e:  # report and go on
                failed += 1
                print("FAIL", full)
                sys.print_exception(e)
            finally:
                os.chdir(base)
                if hasattr(mod, "teardown"):
                    mod.teardown()
    os.chdir("/")
    _rmtree(base)
    print("%d passed, %d failed" % (passed, failed))
    return failed


sys.exit(1 if main(sys.argv[1:]) else 0)
