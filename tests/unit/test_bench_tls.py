"""`tandem bench --tls`: which variants it adds, the options, the TLS-cost ratios, a recommendation that
leaves the TLS variants out, and the clients' TLS context against a real TLS server on loopback."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from tandem.bench.figures import FAILED, VariantResult
from tandem.bench.options import parse_options
from tandem.bench.ratios import server_ratios
from tandem.bench.recommend import recommend
from tandem.bench.tlsclient import NotLoopback, client_context, self_signed_cert
from tandem.bench.variants import select_variants, variant_table
from tandem.errors import ConfigError, UsageError
from tandem.tls import self_signed
from tests.unit.test_bench_decisions import EXAMPLE_FACTS, echo, http, variant

DEFAULT_SPLIT = ["split-unix", "split-unix-log", "split-caddy", "split-tcp", "split-redis"]


def names(**kwargs: object) -> list[str]:
    modes = kwargs.pop("modes", ("split",))
    chosen = kwargs.pop("names", ())
    return [v.name for v in select_variants(variant_table(2), modes, chosen, **kwargs)]  # type: ignore[arg-type]


def test_tls_adds_its_variants_to_the_default_set_only() -> None:
    assert names() == DEFAULT_SPLIT  # without --tls nothing changes
    assert names(tls=True) == [*DEFAULT_SPLIT, "split-tls", "split-caddy-tls"]
    assert names(tls=True, modes=("unified",))[-1] == "unified-1-redis"  # TLS is split's proxy's job
    assert names(tls=True, names=("split-unix", "split-tls")) == ["split-unix", "split-tls"]
    with pytest.raises(UsageError, match="--variants: split-caddy-tls serves https and needs a certificate"):
        names(names=("split-caddy-tls",))


def test_tls_variants_pair_with_their_plain_twin() -> None:
    table = {v.name: v for v in variant_table(2)}
    for name, twin in (("split-tls", "split-unix"), ("split-caddy-tls", "split-caddy")):
        tls, plain = table[name], table[twin]
        assert tls.tls and tls.tls_of == twin and not plain.tls
        assert (tls.serve_args, tls.proxy, tls.mode) == (plain.serve_args, plain.proxy, plain.mode)


def write_pair(directory: Path) -> tuple[Path, Path]:
    cert, key = self_signed(("127.0.0.1",))
    (directory / "cert.pem").write_bytes(cert)
    (directory / "key.pem").write_bytes(key)
    return directory / "cert.pem", directory / "key.pem"


def test_tls_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not parse_options({}).tls_on
    assert parse_options({"tls": "self-signed"}).tls == "self-signed"
    write_pair(tmp_path)
    monkeypatch.chdir(tmp_path)  # relative paths become absolute: serve runs in the project directory
    options = parse_options({"tls_cert": "cert.pem", "tls_key": "key.pem", "variants": "split-tls"})
    assert options.tls_on and options.tls is None
    assert (options.tls_cert, options.tls_key) == (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"tls": "letsencrypt"}, "--tls: must be self-signed, not 'letsencrypt'"),
        ({"tls": "self-signed", "tls_cert": "c.pem", "tls_key": "k.pem"}, "two ways to get a certificate"),
        ({"tls_cert": "c.pem"}, "--tls-cert needs --tls-key"),
        ({"variants": "split-tls"}, "split-tls serves https and needs a certificate"),
    ],
)
def test_bad_tls_options(raw: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_options(raw)


def test_a_bad_certificate_pair_is_refused_before_anything_starts(tmp_path: Path) -> None:
    cert, _ = write_pair(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = write_pair(other)
    with pytest.raises(ConfigError, match="is not the key of the certificate"):
        parse_options({"tls_cert": str(cert), "tls_key": str(other_key)})
    with pytest.raises(ConfigError, match=r"--tls-cert .*missing\.pem"):
        parse_options({"tls_cert": str(tmp_path / "missing.pem"), "tls_key": str(other_key)})


def tls_variant(name: str, **figures: object) -> VariantResult:
    result = variant(name, **figures)
    result.tls = True
    return result


def test_tls_cost_ratios() -> None:
    run = [
        variant("split-unix", http=[http(4000)], echo=[echo(4000)]),
        tls_variant("split-tls", http=[http(3000)], echo=[echo(3600)]),
        tls_variant("split-caddy-tls", http=[http(2000)], echo=[echo(3000)]),
    ]
    lines = [r.summary() for r in server_ratios(run)]
    assert lines == [
        "TLS cost: split-tls (https, wss) vs split-unix (http): 0.75x (split-tls 3,000 req/s vs split-unix "
        "4,000 req/s)",
        "TLS cost: split-tls (https, wss) vs split-unix (echo): 0.90x (split-tls 3,600 msg/s vs split-unix "
        "4,000 msg/s)",
        "TLS cost: split-caddy-tls (https, wss) vs split-caddy (http): not measured (needs split-caddy in the "
        "same run)",
        "TLS cost: split-caddy-tls (https, wss) vs split-caddy (echo): not measured (needs split-caddy in the "
        "same run)",
    ]
    assert server_ratios(run[:1]) == []  # without --tls nothing changes


def test_the_recommendation_leaves_tls_variants_out() -> None:
    unified = variant("unified-1", http=[http(1000)])
    split = variant("split-unix", http=[http(4000)])
    broken = tls_variant("split-caddy-tls")
    broken.status, broken.reason = FAILED, "measurement failed"
    # A TLS variant's failure does not block the verdict, and its figures do not make it.
    rec = recommend([unified, split, broken], EXAMPLE_FACTS)
    assert rec.mode == "split" and "split-unix served" in " ".join(rec.reasons)
    rec = recommend([unified, tls_variant("split-tls", http=[http(9000)])], EXAMPLE_FACTS)
    assert rec.mode == "undecided" and "only unified was measured" in rec.headline


# --- the clients' TLS context, against a real TLS server on loopback --------------------------------------


def test_context_for_plain_and_remote_urls() -> None:
    assert client_context("http://127.0.0.1:8000/", None) is None
    assert client_context("ws://127.0.0.1:8000/ws/", "/nonexistent") is None
    with pytest.raises(NotLoopback):
        client_context("https://example.com/", None)
    unchecked = client_context("wss://[::1]:8443/ws/", None)
    assert unchecked is not None and unchecked.verify_mode == ssl.CERT_NONE
    assert self_signed_cert("/run/t") == "/run/t/tls/cert.pem"  # where serve --tls self-signed writes it


async def handshake(server_cert: Path, server_key: Path, cafile: str | None) -> str | None:
    """Connects with the bench's context to a TLS server on a free loopback port: None, or why it failed."""
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(server_cert, server_key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"https://127.0.0.1:{port}/"
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_context(url, cafile)), 10
        )
        protocol = writer.get_extra_info("ssl_object").selected_alpn_protocol()
        writer.close()
        return None if protocol in (None, "http/1.1") else f"ALPN {protocol}"
    except ssl.SSLError as exc:
        return exc.reason or str(exc)
    finally:
        server.close()
        await server.wait_closed()


def test_context_trusts_exactly_the_certificate_given(tmp_path: Path) -> None:
    cert, key = write_pair(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    other_cert, _ = write_pair(other)
    assert asyncio.run(handshake(cert, key, str(cert))) is None
    assert asyncio.run(handshake(cert, key, str(other_cert))) == "CERTIFICATE_VERIFY_FAILED"
    assert asyncio.run(handshake(cert, key, None)) is None  # the user's certificate: unchecked on loopback


def test_the_bench_keeps_proxy_and_tls_options_of_the_shell_out_of_its_variants() -> None:
    """A TANDEM_PROXY or TANDEM_TLS in the shell would put a proxy in front of unified-1, measured under the
    name of Daphne alone: the bench drops every option that does so, named as the options table names them."""
    from tandem.bench.runner import FRONT_OPTIONS_ENV

    assert {
        "TANDEM_PROXY", "TANDEM_TLS", "TANDEM_TLS_CERT", "TANDEM_TLS_KEY", "TANDEM_TRUSTED_PROXIES",
        "TANDEM_REDIRECT_PORT", "TANDEM_HSTS",
    } == FRONT_OPTIONS_ENV  # fmt: skip
