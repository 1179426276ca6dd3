"""Who the managed nginx's workers run as, and what they need to reach.

nginx's workers parse every untrusted request, so when tandem runs as root (containers, CI, ``make run``)
they switch to an unprivileged user: ``--nginx-user``, else ``www-data`` when it exists, else ``nobody``.
That user must then reach the app servers' unix sockets (group access on exactly those sockets, and a
runtime directory its group may traverse but not list) and read the static and media files, which is
checked before anything starts, naming the directory that stops it.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from tandem.errors import UsageError
from tandem.plan import Plan, ProxySpec

DEFAULT_USERS = ("www-data", "nobody")
ROOT = "root"


@dataclass(frozen=True)
class WorkerUser:
    name: str
    group: str
    uid: int
    gid: int
    groups: frozenset[int]  # every group the user is in: what file access is decided by

    @property
    def is_root(self) -> bool:
        return self.uid == 0


def lookup(name: str) -> WorkerUser:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(
            f"--nginx-user {name!r}: no such user on this machine",
            hint="name an existing user, e.g. www-data",
        ) from None
    group = grp.getgrgid(entry.pw_gid).gr_name
    groups = frozenset({entry.pw_gid, *(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)})
    return WorkerUser(name, group, entry.pw_uid, entry.pw_gid, groups)


def nginx_workers(configured: str | None) -> WorkerUser | None:
    """The user the managed nginx's workers switch to; None when tandem is not root (nginx cannot switch
    users then, and its workers run as whoever runs tandem)."""
    if os.geteuid() != 0:
        return None
    if configured:
        return lookup(configured)
    for name in DEFAULT_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return lookup(name)
    raise UsageError(
        "tandem runs as root and neither www-data nor nobody exists for nginx's workers",
        hint="name an unprivileged user with --nginx-user (or root, which keeps the workers as root)",
    )


def _may(info: os.stat_result, user: WorkerUser, bits: int) -> bool:
    """Whether ``user`` has ``bits`` (4 read, 1 search/execute) on a file, the way the kernel decides:
    owner bits for the owner, else group bits for a member, else the bits for others."""
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == user.uid:
        return mode & (bits << 6) == bits << 6
    if info.st_gid in user.groups:
        return mode & (bits << 3) == bits << 3
    return mode & bits == bits


def unreadable(directory: Path, user: WorkerUser, *, listed: bool = True) -> str | None:
    """Why ``user`` cannot read the files under ``directory`` (the first directory on the way it may not
    enter, or the directory itself it may not list), or None. A directory that does not exist yet (an
    empty MEDIA_ROOT) is checked as far as it exists."""
    if user.is_root:
        return None
    path = Path(os.path.abspath(directory))
    chain = [*reversed(path.parents), path]
    for step in chain:
        try:
            info = os.stat(step)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"{step} cannot be examined ({exc.strerror})"
        if not _may(info, user, 1):
            return f"{user.name} may not enter {step} (mode {stat.S_IMODE(info.st_mode):04o})"
        if listed and step == path and not _may(info, user, 4):
            return f"{user.name} may not list {step} (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def check_files(proxy: ProxySpec, user: WorkerUser) -> None:
    """Refuse to start when nginx's workers could not read the static or media files: every such file
    would be a 403 with the reason only in nginx's error log."""
    for location in proxy.static_locations:
        reason = unreadable(Path(location.root), user)
        if reason:
            what = "MEDIA_ROOT" if location.media else "STATIC_ROOT"
            raise UsageError(
                f"nginx's workers run as {user.name} (tandem runs as root), and {user.name} cannot read "
                f"{what} {location.root}: {reason}",
                hint=f"give {user.name} access (e.g. chmod o+x on each directory above it, o+rX on "
                f"{what}), choose another worker user with --nginx-user, or --nginx-user root to keep "
                "the workers as root (they parse all untrusted traffic)",
            )


def _share(path: Path, user: WorkerUser, mode: int) -> None:
    os.chown(path, -1, user.gid)
    os.chmod(path, mode)


def open_to_workers(plan: Plan, user: WorkerUser | None) -> None:
    """Give the workers' group exactly what they need in the runtime directory: passing through it and
    nginx's own prefix directory (0710: no listing), and connecting to the app servers' sockets (0660).
    Everything else there stays the owner's (sockets 0600, files and other directories 0700)."""
    proxy = plan.proxy
    if proxy is None or user is None or user.is_root:
        return
    check_files(proxy, user)
    blocked = unreadable(plan.runtime_dir.parent, user, listed=False)
    if blocked:
        raise UsageError(
            f"nginx's workers run as {user.name} and cannot reach the runtime directory {plan.runtime_dir}: "
            f"{blocked}",
            hint="choose a --runtime-dir under a directory others may enter (e.g. /run or /tmp)",
        )
    _share(plan.runtime_dir, user, 0o710)
    _share(Path(proxy.prefix), user, 0o710)
    for upstream in (proxy.wsgi_upstream, proxy.asgi_upstream):
        if upstream.startswith("unix:"):
            _share(Path(upstream.removeprefix("unix:")), user, 0o660)
