"""The contract between the parent and its children: what the wrapped application must do."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

ENV_VAR = "TANDEM_RUNTIME"
PROBE_PATH = "/.tandem/health"
PROBE_HEADER = "x-tandem-probe"
PROXY_HEADER = "x-tandem-proxy"  # --internal tcp: the per-run secret tandem's nginx sends
# --role app: a request here carrying PROXY_HEADER is answered without the user's code, 200 when the
# secret matches, 403 when not (tandem.edge: the edge's status and check tell "down" from "a different
# secret"). Kept equal to tandem.edge.EDGE_PATH, which the children do not import.
EDGE_PATH = "/.tandem/edge"
# Headers that claim something about the client or the scheme: believed only from tandem's proxy, removed
# from requests that come from anyone else (so neither tandem nor Django settings such as
# SECURE_PROXY_SSL_HEADER or USE_X_FORWARDED_HOST act on them).
FORWARDING_HEADERS = (
    "x-forwarded-for", "x-forwarded-proto", "x-real-ip", "x-forwarded-host", "x-forwarded-port",
    "x-forwarded-ssl", "x-forwarded-protocol", "forwarded",
)  # fmt: skip


@dataclass(frozen=True)
class RuntimeSpec:
    app: str  # the user's application, "module:attr"
    probe_token: str  # the health probe answers only requests carrying this token
    channel_layer: str | None = None  # a redis:// URL (or "memory") replacing settings.CHANNEL_LAYERS
    redis_read_timeout: float | None = None  # raise the project's Redis read timeouts to this (W012)
    serve_static: bool = False  # unified mode: static and media files from the app server
    static_url: str | None = None
    static_root: str | None = None
    override_static_root: bool = False  # tandem's embedded STATIC_ROOT replaces the (unset) setting
    media_url: str | None = None
    media_root: str | None = None
    trust_proxy: bool = False  # behind tandem's nginx: client address and scheme from its headers
    proxy_secret: str = ""  # set (--internal tcp): trust_proxy only for requests carrying it
    diagnostic_token: str | None = None  # enables tandem.diagnostics' endpoint for tandem verify
    gc_threshold: int | None = None  # tandem.runtime.collector: freeze after import, this gen-0 threshold

    def to_env(self) -> dict[str, str]:
        return {ENV_VAR: json.dumps(dataclasses.asdict(self), sort_keys=True)}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RuntimeSpec:
        raw = environ.get(ENV_VAR)
        if not raw:
            raise RuntimeError(f"{ENV_VAR} is not set: this module runs only in processes started by tandem")
        return cls(**json.loads(raw))
