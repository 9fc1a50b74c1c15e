"""OTA: verified download, swap, boot-attempt marker, confirm, rollback."""

import _thread
import binascii
import hashlib
import json
import socket
import time

import boot
import flashfs
import ota
from fakes import assert_eq, assert_raises

OLD_APP = "VERSION = '1.0.0'\n"
NEW_APP = "VERSION = '1.1.0'\n"
NEW_LIB = "X = 1\n"
BASE = "http://updates.local/fw/1.1.0/"


def sha(data):
    return binascii.hexlify(hashlib.sha256(data.encode()).digest()).decode()


def manifest(files, version="1.1.0"):
    return json.dumps(
        {
            "version": version,
            "files": [{"path": p, "sha256": sha(d), "size": len(d)} for p, d in files.items()],
        }
    )


class FakeServer:
    def __init__(self, files, tamper=None):
        self.files = files
        self.tamper = tamper or {}
        self.headers = []

    def get(self, url, sink, headers=None):
        self.headers.append(headers or {})
        path = url[len(BASE) :]
        data = (
            manifest(self.files)
            if path == "manifest.json"
            else self.tamper.get(path, self.files[path])
        )
        sink(data.encode())
        return len(data)


def setup_old():
    flashfs.makedirs("lib")
    with open("lib/app.py", "w") as f:
        f.write(OLD_APP)


def read(p):
    with open(p) as f:
        return f.read()


def test_install_verifies_swaps_and_sends_token():
    setup_old()
    srv = FakeServer({"lib/app.py": NEW_APP, "lib/extra.py": NEW_LIB})
    assert_eq(ota.install(BASE + "manifest.json", "tok123", srv.get), "1.1.0")
    assert_eq(read("lib/app.py"), NEW_APP)
    assert_eq(read("lib/extra.py"), NEW_LIB)
    assert_eq(read("ota_old/lib/app.py"), OLD_APP)
    assert ota.pending()
    assert all(h == {"Authorization": "Bearer tok123"} for h in srv.headers)
    assert not flashfs.exists("ota_new")


def test_checksum_mismatch_changes_nothing():
    setup_old()
    srv = FakeServer({"lib/app.py": NEW_APP}, tamper={"lib/app.py": "evil()\n"})
    assert_raises(ValueError, ota.install, BASE + "manifest.json", None, srv.get)
    assert_eq(read("lib/app.py"), OLD_APP)
    assert not ota.pending()
    assert not flashfs.exists("ota_new")


def test_refuses_boot_py_and_escapes():
    with open("boot.py", "w") as f:
        f.write("# rollback\n")
    for bad in (
        "boot.py",
        "../x.py",
        "/lib/app.py",
        "ota_state.json",
        "./boot.py",
        "./config.json",
        "lib/./app.py",
        "lib//app.py",
        "lib/",
        ".",
        "lib\\..\\boot.py",
        "ota_new/x.py",
        "lib/../boot.py",
    ):
        srv = FakeServer({bad: "x"})
        e = assert_raises(ValueError, ota.install, BASE + "manifest.json", None, srv.get)
        assert "refusing" in str(e), (bad, e)
    assert_eq(read("boot.py"), "# rollback\n")
    assert not flashfs.exists("config.json") and not ota.pending()


class EndlessServer(FakeServer):
    """Serves lib/app.py as an endless stream of 100-byte chunks (counted)."""

    def __init__(self):
        FakeServer.__init__(self, {"lib/app.py": NEW_APP})
        self.chunks = 0

    def get(self, url, sink, headers=None):
        if not url.endswith("lib/app.py"):
            return FakeServer.get(self, url, sink, headers)
        for _ in range(100000):
            self.chunks += 1
            sink(b"x" * 100)
        return 100 * self.chunks


def test_too_long_download_aborts_while_downloading():
    setup_old()
    srv = EndlessServer()
    e = assert_raises(ValueError, ota.install, BASE + "manifest.json", None, srv.get)
    assert "longer than" in str(e), e
    assert_eq(srv.chunks, 1)  # stopped at the first chunk past the manifest's size
    assert_eq(read("lib/app.py"), OLD_APP)
    assert not flashfs.exists("ota_new") and not ota.pending()


def test_oversized_manifest_is_refused():
    big = {"lib/f%03d.py" % i: "x" for i in range(120)}
    e = assert_raises(ValueError, ota.install, BASE + "manifest.json", None, FakeServer(big).get)
    assert "manifest" in str(e), e


def test_success_path_confirm_keeps_new_code():
    setup_old()
    ota.install(BASE + "manifest.json", None, FakeServer({"lib/app.py": NEW_APP}).get)
    assert_eq(boot.ota_boot_check(), "trying")  # first boot of the new code
    assert_eq(ota.confirm(), "1.1.0")  # it connected: keep it
    assert_eq(boot.ota_boot_check(), "none")
    assert_eq(read("lib/app.py"), NEW_APP)
    assert not flashfs.exists("ota_old")


def test_new_code_that_never_confirms_is_rolled_back():
    setup_old()
    ota.install(
        BASE + "manifest.json",
        None,
        FakeServer({"lib/app.py": NEW_APP, "lib/extra.py": NEW_LIB}).get,
    )
    results = [boot.ota_boot_check() for _ in range(boot.MAX_ATTEMPTS + 1)]
    assert_eq(results, ["trying"] * boot.MAX_ATTEMPTS + ["rolled_back"])
    assert_eq(read("lib/app.py"), OLD_APP)
    assert not flashfs.exists("lib/extra.py")  # added by the failed update: removed
    assert not ota.pending()
    assert_eq(json.loads(read("ota_result.json"))["rolled_back"], True)


def _serve_once(sock, files, seen):
    for _ in range(len(files)):
        conn, _ = sock.accept()
        req = b""
        while b"\r\n\r\n" not in req:
            req += conn.recv(256)
        seen.append(req)
        path = req.split(b" ")[1].decode()
        body = files.get(path)
        if body is None:
            conn.send(b"HTTP/1.0 404 Not Found\r\n\r\n")
        else:
            conn.send(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        conn.close()
    sock.close()


def test_real_http_download_over_socket():
    setup_old()
    new_app = NEW_APP * 200  # several chunks
    files = {
        "/fw/manifest.json": manifest({"lib/app.py": new_app}).encode(),
        "/fw/lib/app.py": new_app.encode(),
    }
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(socket.getaddrinfo("127.0.0.1", 18742)[0][-1])
    srv.listen(2)
    seen = []
    _thread.start_new_thread(_serve_once, (srv, files, seen))
    ota.install("http://127.0.0.1:18742/fw/manifest.json", "t0k")
    assert_eq(read("lib/app.py"), new_app)
    assert b"Authorization: Bearer t0k" in seen[0]
    time.sleep_ms(10)


def test_manifest_other_than_the_signed_one_changes_nothing():
    setup_old()
    srv = FakeServer({"lib/app.py": NEW_APP})
    e = assert_raises(ValueError, ota.install, BASE + "manifest.json", None, srv.get, "00" * 32)
    assert "sha256" in str(e), e
    assert_eq(read("lib/app.py"), OLD_APP)
    assert not ota.pending() and not flashfs.exists("ota_new")
    good = binascii.hexlify(hashlib.sha256(manifest(srv.files).encode()).digest()).decode()
    assert_eq(ota.install(BASE + "manifest.json", None, srv.get, good), "1.1.0")
