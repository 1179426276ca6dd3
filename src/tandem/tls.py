"""TLS at the proxy tandem runs in front: which certificate, and a self-signed one for local work.

``--tls-cert FILE --tls-key FILE`` names the user's certificate; ``--tls self-signed`` makes one for the bind
host (and localhost, 127.0.0.1, ::1) in the runtime directory, whose path serve prints so a browser or a
client (``curl --cacert``, ``httpx.Client(verify=...)``) can trust it. The proxy (nginx or Caddy) reads the
files; the app servers behind it speak plain HTTP on sockets only the proxy reaches.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from tandem.config import Config
from tandem.errors import ConfigError

TLS_DIR = "tls"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
SELF_SIGNED_DAYS = 30  # a local certificate: short-lived, made anew with each runtime dir


@dataclass(frozen=True)
class TlsFiles:
    cert: str  # absolute paths, as the proxy's config names them
    key: str
    self_signed: bool = False
    hosts: tuple[str, ...] = ()  # self-signed: the names and addresses it is valid for


def tls_files(config: Config, runtime_dir: Path) -> TlsFiles | None:
    """Where the proxy finds its certificate and key (None: plain HTTP). Pure: nothing is read or made here
    (``ensure_certificate`` does that before serve starts anything)."""
    if config.tls == "self-signed":
        directory = runtime_dir / TLS_DIR
        return TlsFiles(
            str(directory / CERT_FILE),
            str(directory / KEY_FILE),
            self_signed=True,
            hosts=certificate_hosts(config.bind),
        )
    if config.tls_cert and config.tls_key:
        return TlsFiles(str(Path(config.tls_cert).resolve()), str(Path(config.tls_key).resolve()))
    return None


def certificate_hosts(bind: str) -> tuple[str, ...]:
    """The names a self-signed certificate covers: the bind host (this machine's name too for a wildcard
    bind, which other machines reach it by) and the loopback names a local browser uses."""
    host = bind.strip("[]")
    names: list[str] = []
    if host in ("0.0.0.0", "::", ""):
        names.append(socket.gethostname())
    else:
        names.append(host)
    for local in ("localhost", "127.0.0.1", "::1"):
        if local not in names:
            names.append(local)
    return tuple(names)


def ensure_certificate(files: TlsFiles) -> None:
    """Make the self-signed certificate, or check that the user's pair can be read and belongs together:
    a clear refusal here instead of the proxy's message after the app servers started."""
    if files.self_signed:
        cert, key = self_signed(files.hosts)
        Path(files.cert).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write(files.key, key, 0o600)
        _write(files.cert, cert, 0o644)
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert_pem = Path(files.cert).read_bytes()
    except OSError as exc:
        raise ConfigError(f"--tls-cert {files.cert}: {exc.strerror}") from None
    try:
        key_pem = Path(files.key).read_bytes()
    except OSError as exc:
        raise ConfigError(f"--tls-key {files.key}: {exc.strerror}") from None
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ConfigError(f"--tls-cert {files.cert} holds no PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            f"--tls-key {files.key} holds no unencrypted PEM private key",
            hint="the proxy starts unattended: decrypt the key (openssl pkey -in KEY -out KEY.plain)",
        ) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if certificate.public_key().public_bytes(encoding, public) != private.public_key().public_bytes(
        encoding, public
    ):
        raise ConfigError(f"--tls-key {files.key} is not the key of the certificate in {files.cert}")
    if certificate.not_valid_after_utc < datetime.datetime.now(datetime.UTC):
        raise ConfigError(f"--tls-cert {files.cert} expired on {certificate.not_valid_after_utc:%Y-%m-%d}")


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, mode)


def self_signed(hosts: tuple[str, ...]) -> tuple[bytes, bytes]:
    """A self-signed certificate (PEM) for ``hosts`` and its key: P-256, valid for SELF_SIGNED_DAYS, with
    the extensions strict verifiers require (key identifiers, serverAuth, not a CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64] if hosts else "tandem")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def describe(files: TlsFiles, url: str, redirect: str = "") -> str:
    """The line serve prints: which certificate (for a self-signed one, how to trust it), and the port
    that redirects plain HTTP, if any."""
    if files.self_signed:
        line = (
            f"TLS: self-signed certificate for {', '.join(files.hosts)} at {files.cert} (trust it: "
            f"curl --cacert {files.cert} {url}, or import it into the browser)"
        )
    else:
        line = f"TLS: https with the certificate {files.cert}"
    return line + (f"; plain HTTP on http://{redirect}/ redirects to https" if redirect else "")
