"""Checks for app hosts behind an edge (``--role app`` / ``--role edge``).

E015: an app host's group messages must reach clients on the other hosts: only a Redis every host names
does that (the in-memory layer, no layer, or tandem's own Redis on a private socket do not).
E016: the edge secret is missing, or an app host answers the edge that its secret differs (every request
would then lose its client address and scheme).
W014: uploads stored on one host's disk while the edge spreads requests over several.
"""

from __future__ import annotations

from django.core.checks import CheckMessage

from tandem.checks.context import CheckContext
from tandem.checks.messages import finding
from tandem.layerchoice import INMEMORY_LAYER, KEPT_MEMORY, MANAGED

FILE_SYSTEM_STORAGE = "django.core.files.storage.FileSystemStorage"


def _role(ctx: CheckContext) -> str:
    return ctx.config.role if ctx.config is not None else "single"


def check_app_layer(ctx: CheckContext) -> list[CheckMessage]:
    """E015: ``--role app`` without a channel layer that crosses hosts."""
    if _role(ctx) != "app":
        return []
    choice = ctx.layer_choice
    if choice.kind == MANAGED:
        why = (
            "the project's in-memory channel layer would be replaced by a Redis tandem runs on this host "
            "alone, on a private socket"
        )
    elif choice.kind == KEPT_MEMORY or choice.backend == INMEMORY_LAYER:
        why = "the in-memory channel layer keeps group messages inside one process"
    elif choice.backend is None:
        why = "settings.CHANNEL_LAYERS has no 'default' layer"
    else:
        return []
    return [
        finding(
            "E015",
            f"--role app: group messages must reach clients connected to the other app hosts, but {why}",
            "point every app host at one Redis: --channel-layer redis://REDIS_HOST:6379/0 (or "
            "TANDEM_CHANNEL_LAYER, or channels_redis in settings.CHANNEL_LAYERS; Sentinel works there too)",
            "settings.CHANNEL_LAYERS",
        )
    ]


def check_edge_secret(ctx: CheckContext) -> list[CheckMessage]:
    """E016 (missing): app hosts and the edge share a secret; without it an app host could not tell the
    edge from any other client on its network, and the edge could not prove itself."""
    role = _role(ctx)
    if role == "single" or ctx.config is None or ctx.config.edge_secret:
        return []
    who = "the app hosts believe forwarded headers only from the edge, which proves itself with it"
    return [
        finding(
            "E016",
            f"--role {role} needs the edge secret: {who}",
            "give every app host and the edge the same --edge-secret (or TANDEM_EDGE_SECRET), e.g. "
            "python -c 'import secrets; print(secrets.token_hex(16))'",
            "TANDEM_EDGE_SECRET",
        )
    ]


def check_edge_upstreams(ctx: CheckContext) -> list[CheckMessage]:
    """E016 (different): on the edge, an app host that answers that the secret differs. A host that
    does not answer is not an error here (it may start after the edge); ``tandem status`` shows it."""
    if _role(ctx) != "edge" or ctx.config is None or not ctx.config.edge_secret:
        return []
    from tandem.edge import parse_upstreams, probe_pools

    config = ctx.config
    secret = config.edge_secret or ""
    upstreams = parse_upstreams(config.upstreams, config.http_port, config.ws_port)
    unified = config.mode == "unified"
    rows = probe_pools(
        tuple(u.ws if unified else u.http for u in upstreams),
        tuple(u.ws for u in upstreams),
        secret,
    )
    found = []
    for row in rows:
        differs = [
            str(row[kind]["address"])  # type: ignore[index]
            for kind in ("http", "ws")
            if kind in row and row[kind]["state"] == "secret differs"  # type: ignore[index]
        ]
        if differs:
            found.append(
                finding(
                    "E016",
                    f"app host {row['host']} ({', '.join(differs)}) has a different edge secret: it would "
                    "ignore the client address and scheme the edge sends",
                    "start every app host with the edge's --edge-secret (TANDEM_EDGE_SECRET)",
                    "TANDEM_EDGE_SECRET",
                )
            )
    return found


def _default_storage(settings: object) -> str | None:
    storages = getattr(settings, "STORAGES", None)
    if isinstance(storages, dict) and isinstance(storages.get("default"), dict):
        backend = storages["default"].get("BACKEND")
        return str(backend) if backend else None
    return getattr(settings, "DEFAULT_FILE_STORAGE", None) or FILE_SYSTEM_STORAGE


def check_shared_media(ctx: CheckContext) -> list[CheckMessage]:
    """W014: on an edge with several app hosts, uploads saved by Django's FileSystemStorage land on the
    disk of whichever host took the request, and the edge serves MEDIA_ROOT from its own disk."""
    if _role(ctx) != "edge" or ctx.config is None or len(set(ctx.config.upstreams)) < 2:
        return []
    media_root = getattr(ctx.settings, "MEDIA_ROOT", None)
    if not media_root or _default_storage(ctx.settings) != FILE_SYSTEM_STORAGE:
        return []
    return [
        finding(
            "W014",
            f"uploads are stored in MEDIA_ROOT ({media_root}) on the local disk of whichever of the "
            f"{len(set(ctx.config.upstreams))} app hosts took the request: the others and this edge "
            "do not have them",
            "mount MEDIA_ROOT from shared storage (NFS, a cluster file system) on every app host and the "
            "edge, or store uploads in object storage (STORAGES['default'])",
            "settings.MEDIA_ROOT",
        )
    ]
