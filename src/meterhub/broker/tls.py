"""A certificate authority of meterhub's own, and the embedded broker's TLS certificate.

With `MQTT_TLS_PORT` set, `meterhub run` adds a TLS listener (mqtts) to the embedded
broker. Its certificate is signed by a CA that meterhub makes once in the data dir
(`mqtt-tls/ca.crt`, the file devices must trust; keys mode 0600). The server certificate
names localhost, 127.0.0.1, ::1, this machine's host names and any `MQTT_TLS_NAMES`; it
is made again when a name is missing or it is about to expire. The CA key never leaves
the data dir.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "mqtt-tls"
CA_DAYS = 3650
SERVER_DAYS = 825
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    """The CA certificate (for devices) and the server's certificate and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def default_names(extra: Iterable[str] = ()) -> list[str]:
    """The names the server certificate carries: loopback, host names, `extra`."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()]
    names += [n.strip() for n in extra if n.strip()]
    return sorted({n for n in names if n and n not in ("0.0.0.0", "::")})


def ensure_tls(data_dir: Path, names: Iterable[str]) -> TlsFiles:
    """The TLS files in `data_dir/mqtt-tls`, made (or the server part renewed) as needed."""
    folder = data_dir / TLS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = TlsFiles(folder / "ca.crt", folder / "server.crt", folder / "server.key")
    ca_key_path = folder / "ca.key"
    if not (files.ca_cert.exists() and ca_key_path.exists()):
        new_ca = ec.generate_private_key(ec.SECP256R1())
        _write(ca_key_path, _key_pem(new_ca), private=True)
        _write(files.ca_cert, _ca_cert(new_ca).public_bytes(serialization.Encoding.PEM))
    wanted = list(names)
    if _server_cert_current(files.server_cert, wanted) and files.server_key.exists():
        return files
    loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_key_path} is not the EC key meterhub made")
    ca_key = loaded
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server_key = ec.generate_private_key(ec.SECP256R1())
    cert = _server_cert(server_key, ca_key, ca_cert, wanted)
    _write(files.server_key, _key_pem(server_key), private=True)
    _write(files.server_cert, cert.public_bytes(serialization.Encoding.PEM))
    return files


def _ca_cert(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meterhub MQTT CA")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def _server_cert(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: list[str],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _san(names: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _server_cert_current(path: Path, names: list[str]) -> bool:
    if not path.exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    return all(str(n) in have or _ip_text(n) in have for n in names)


def _ip_text(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
