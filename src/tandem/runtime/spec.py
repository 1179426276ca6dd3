"""The contract between the parent and its children: what the wrapped application must do."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

ENV_VAR = "TANDEM_RUNTIME"
# An exported process's secret fields (named in RuntimeSpec.secrets_from_env) are not in ENV_VAR, which
# `systemctl show`, `ps e` and the process manager's own files show: this variable names the file holding
# them, written 0600 by the export (tandem.exporters.secrets) and read here, never copied into the
# environment.
SECRETS_VAR = "TANDEM_RUNTIME_SECRETS"
SECRET_FIELDS = ("proxy_secret", "diagnostic_token", "channel_layer")
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
    secrets_from_env: tuple[str, ...] = ()  # exported: these fields are in the file SECRETS_VAR names

    def to_env(self) -> dict[str, str]:
        data = dataclasses.asdict(self)
        if not self.secrets_from_env:
            del data["secrets_from_env"]  # only an exported process's TANDEM_RUNTIME has it
        return {ENV_VAR: json.dumps(data, sort_keys=True)}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RuntimeSpec:
        raw = environ.get(ENV_VAR)
        if not raw:
            raise RuntimeError(f"{ENV_VAR} is not set: this module runs only in processes started by tandem")
        data = json.loads(raw)
        names = tuple(data.get("secrets_from_env") or ())
        if names:
            data.update(read_secrets(environ.get(SECRETS_VAR, ""), names))
            data["secrets_from_env"] = names
        return cls(**data)


class SecretsError(RuntimeError):
    """An exported process cannot read its secrets file: it stops rather than run without them (it would
    believe no proxy, or serve no diagnostics, or reach no channel layer)."""


def read_secrets(path: str, names: tuple[str, ...]) -> dict[str, object]:
    """The secret fields ``names`` from the file at ``path`` (SECRETS_VAR): a JSON object readable by its
    owner only, owned by the user reading it, each field a non-empty string. Anything else is one
    SecretsError line naming the file and what to do."""
    unknown = [name for name in names if name not in SECRET_FIELDS]
    if unknown:
        raise SecretsError(f"{ENV_VAR} names {', '.join(unknown)} as secret: export the files again")
    if not path:
        raise SecretsError(
            f"{SECRETS_VAR} is not set: this exported process reads {', '.join(names)} from the secrets file "
            "the export wrote (its README.txt says where to install it)"
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO does not block
    except OSError as exc:
        raise SecretsError(
            f"cannot read the secrets file {path} ({SECRETS_VAR}): {exc.strerror}; install the one the "
            "export wrote (its README.txt says where), mode 0600, owned by the user running this process"
        ) from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SecretsError(f"the secrets file {path} ({SECRETS_VAR}) is not a regular file")
        if info.st_uid != os.geteuid():
            # Whoever owns the file could have written it (a proxy secret they know, a channel layer they run).
            raise SecretsError(
                f"the secrets file {path} ({SECRETS_VAR}) is owned by uid {info.st_uid}, not by the user "
                f"running this process (uid {os.geteuid()}): chown it to that user"
            )
        if info.st_mode & 0o077:
            raise SecretsError(
                f"the secrets file {path} ({SECRETS_VAR}) is mode {stat.S_IMODE(info.st_mode):04o}, readable "
                f"by more than its owner: chmod 600 {path} (it holds {', '.join(names)})"
            )
        text = file.read()
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise SecretsError(f"the secrets file {path} ({SECRETS_VAR}) is not a JSON object: export it again")
    missing = [name for name in names if name not in values]
    if missing:
        raise SecretsError(
            f"the secrets file {path} ({SECRETS_VAR}) lacks {', '.join(missing)}: export it again"
        )
    wrong = [name for name in names if not isinstance(values[name], str) or not values[name]]
    if wrong:
        raise SecretsError(
            f"the secrets file {path} ({SECRETS_VAR}) has no text value for {', '.join(wrong)}: export it again"
        )
    return {name: values[name] for name in names}
