"""tandem.tls and the TLS options: the self-signed certificate, the user's pair checked before anything
starts, and the combinations refused with the reason."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509

from tandem.config import Config, resolve_config
from tandem.errors import ConfigError
from tandem.tls import TlsFiles, certificate_hosts, ensure_certificate, self_signed, tls_files


def test_a_self_signed_certificate_names_the_bind_host_and_loopback() -> None:
    cert_pem, _ = self_signed(certificate_hosts("127.0.0.1"))
    cert = x509.load_pem_x509_certificate(cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("::1") in names.get_values_for_type(x509.IPAddress)
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_self_signed_files_go_into_the_runtime_dir_key_private(tmp_path: Path) -> None:
    files = tls_files(Config(mode="split", tls="self-signed"), tmp_path)
    assert files is not None and files.cert == str(tmp_path / "tls" / "cert.pem")
    ensure_certificate(files)
    assert (Path(files.key).stat().st_mode & 0o777) == 0o600
    assert Path(files.cert).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_the_users_pair_must_belong_together(tmp_path: Path) -> None:
    cert_a, key_a = self_signed(("a.example",))
    _, key_b = self_signed(("b.example",))
    (tmp_path / "a.pem").write_bytes(cert_a)
    (tmp_path / "a.key").write_bytes(key_a)
    (tmp_path / "b.key").write_bytes(key_b)
    ensure_certificate(TlsFiles(str(tmp_path / "a.pem"), str(tmp_path / "a.key")))
    with pytest.raises(ConfigError, match="is not the key of the certificate"):
        ensure_certificate(TlsFiles(str(tmp_path / "a.pem"), str(tmp_path / "b.key")))
    with pytest.raises(ConfigError, match="--tls-cert"):
        ensure_certificate(TlsFiles(str(tmp_path / "missing.pem"), str(tmp_path / "a.key")))


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"mode": "split", "role": "app", "tls": "self-signed"}, "an app host .* runs no proxy"),
        ({"role": "app", "tls_cert": "c.pem", "tls_key": "k.pem"}, "--tls-cert is for the host that runs"),
        ({"role": "app", "trusted_proxies": ("10.0.0.0/8",)}, "--trusted-proxy is for the host that runs"),
        ({"tls": "self-signed", "tls_cert": "c.pem", "tls_key": "k.pem"}, "two ways to get a certificate"),
        ({"redirect_port": 8080}, "needs TLS"),
        ({"proxy": "nginx", "hsts": 600}, "needs TLS"),
        ({"mode": "split", "tls": "letsencrypt"}, "must be self-signed"),
        ({"mode": "split", "tls_cert": "c.pem"}, "--tls-cert needs --tls-key too"),
        ({"mode": "split", "redirect_port": 8080}, "needs TLS"),
        ({"mode": "split", "hsts": 600}, "needs TLS"),
        ({"mode": "split", "tls": "self-signed", "redirect_port": 8000}, "other than --port"),
        ({"mode": "split", "trusted_proxies": ("10.0.0.0/8", "not-a-network")}, "addresses or CIDRs"),
    ],
)
def test_refused_combinations_say_why(cli: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_config(cli, {}, None)


@pytest.mark.parametrize(
    "cli",
    [
        {"tls": "self-signed"},
        {"tls": "self-signed", "redirect_port": 8080, "hsts": 600},
        {"tls_cert": "c.pem", "tls_key": "k.pem"},
        {"trusted_proxies": ("10.0.0.0/8",)},
        {"role": "edge", "upstreams": ("10.0.0.5",), "tls": "self-signed"},
    ],
)
def test_unified_mode_takes_tls_and_trusted_proxies(cli: dict[str, object]) -> None:
    """Refused before the proxy could stand in front of unified mode; now they put it there."""
    config = resolve_config(cli, {}, None)
    assert config.mode == "unified"
    assert config.unified_proxy is (config.role == "single")


def test_trusted_proxies_from_the_environment_comma_separated() -> None:
    config = resolve_config({"mode": "split"}, {"TANDEM_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.2"}, None)
    assert config.trusted_proxies == ("10.0.0.0/8", "127.0.0.2")


def test_an_edge_with_a_redirect_port_binds_it() -> None:
    """--redirect-port on an edge: its plain-HTTP socket is bound, so the proxy spec's redirect server has
    somewhere to listen (before, the edge bound only the public socket and rendered no redirect)."""
    from tandem.plan import plan_addresses

    config = resolve_config(
        {"role": "edge", "upstreams": ("10.0.0.5",), "tls": "self-signed", "redirect_port": 8124}, {}, None
    )
    addresses = plan_addresses(config, Path("/run/t"))
    assert set(addresses) == {"public", "redirect"}
    assert addresses["redirect"].port == 8124
