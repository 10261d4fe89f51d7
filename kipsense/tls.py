"""A private certificate authority and a server certificate for the local broker's TLS listener.

Made with the ``openssl`` command line (present wherever Mosquitto is), EC P-256 keys. The CA's certificate
is what a client trusts (``KIPSENSE_MQTT_TLS_CA``); the CA key stays beside it, readable only by its owner.
Production brokers use certificates from the organisation's own CA instead (deploy/README-tls.md).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_CA_DAYS = 3650
_SERVER_DAYS = 825  # the longest validity clients such as Apple's accept for a server certificate
_RENEW_WITHIN_S = 30 * 86_400


class TlsError(RuntimeError):
    """The certificates could not be made; the message carries openssl's complaint."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The CA certificate clients trust and the server's certificate and key."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def files_in(directory: Path) -> TlsFiles:
    return TlsFiles(directory / "ca.crt", directory / "ca.key", directory / "server.crt", directory / "server.key")


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise TlsError("the openssl command is not installed")
    result = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise TlsError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _valid(cert: Path, ca: Path) -> bool:
    """True when ``cert`` is signed by ``ca`` and stays valid for a while yet."""
    binary = shutil.which("openssl")
    if binary is None or not cert.exists() or not ca.exists():
        return False
    ends = subprocess.run(  # noqa: S603
        [binary, "x509", "-in", str(cert), "-noout", "-checkend", str(_RENEW_WITHIN_S)], capture_output=True
    )
    chain = subprocess.run([binary, "verify", "-CAfile", str(ca), str(cert)], capture_output=True)  # noqa: S603
    return ends.returncode == 0 and chain.returncode == 0


def ensure_local_certificates(directory: Path, *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> TlsFiles:
    """Create (or keep, while valid) a CA and a server certificate for ``hosts`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = files_in(directory)
    if not _valid(files.ca_cert, files.ca_cert) or not files.ca_key.exists():
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", files.ca_key.name, "-out", files.ca_cert.name, "-days", str(_CA_DAYS),
            "-subj", "/O=KIP Sense/CN=KIP Sense local CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )  # fmt: skip
        files.server_cert.unlink(missing_ok=True)
    if not _valid(files.server_cert, files.ca_cert) or not files.server_key.exists():
        _server_certificate(files, hosts, directory)
    for key in (files.ca_key, files.server_key):
        key.chmod(0o600)
    return files


def _server_certificate(files: TlsFiles, hosts: tuple[str, ...], directory: Path) -> None:
    names = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() or ":" in h else f"DNS:{h}" for h in hosts)
    ext = directory / "server.ext"
    ext.write_text(
        f"subjectAltName={names}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    csr = directory / "server.csr"
    try:
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", files.server_key.name, "-out", csr.name, "-subj", f"/O=KIP Sense/CN={hosts[0]}",
            cwd=directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", csr.name, "-CA", files.ca_cert.name, "-CAkey", files.ca_key.name,
            "-set_serial", str(secrets.randbits(63)), "-days", str(_SERVER_DAYS), "-sha256",
            "-extfile", ext.name, "-out", files.server_cert.name,
            cwd=directory,
        )  # fmt: skip
    finally:
        csr.unlink(missing_ok=True)
        ext.unlink(missing_ok=True)
