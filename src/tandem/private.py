"""Directories only their owner can touch: the runtime directory (sockets, nginx.conf, pid files) and the
per-user registry of running instances.

A directory another local user can write to, or one that is a symlink, lets that user replace a socket
tandem trusts, read a config, or point tandem's writes (as root: anywhere) at a file of their choosing.
So an existing directory is checked before anything is written into it, and every file tandem writes goes
to a fresh temporary name first and is renamed into place (a rename replaces a planted symlink instead of
following it).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tandem.errors import UsageError

# Group members may traverse the directory (the nginx workers' group, given when tandem runs as root and
# the workers run as another user: tandem.workeruser); no other access by anyone but the owner.
ALLOWED_OTHER_BITS = stat.S_IXGRP


def owner_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def unsafe_reason(path: Path, info: os.stat_result) -> str | None:
    """Why an existing directory (from ``lstat``) is not private to the user running tandem, or None."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symlink (another user could point it elsewhere)"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    if info.st_uid != os.geteuid():
        return f"is owned by {owner_name(info.st_uid)}, not by {owner_name(os.geteuid())} who runs tandem"
    loose = stat.S_IMODE(info.st_mode) & 0o077 & ~ALLOWED_OTHER_BITS
    if loose:
        return (
            f"has mode {stat.S_IMODE(info.st_mode):04o}: other users may "
            f"{'write to' if loose & 0o022 else 'read or enter'} it (sockets and configs live there)"
        )
    return None


def runtime_dir(given: str | None) -> tuple[Path, bool]:
    """The private directory for sockets, pid and temp files: (path, created_by_us).

    A given directory that exists must be private to us already (one clear error otherwise, exit 2); one
    that does not exist is created 0700. The default is a fresh ``mkdtemp`` directory (0700, short, under
    /tmp: unix socket paths are limited to 107 bytes).
    """
    if not given:
        return Path(tempfile.mkdtemp(prefix="tandem-", dir="/tmp" if os.path.isdir("/tmp") else None)), True
    path = Path(os.path.abspath(given))  # not resolve(): a symlink must be seen, not followed
    with contextlib.suppress(FileExistsError):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; 0700 is what we want either way
        return path, False
    info = os.lstat(path)
    reason = unsafe_reason(path, info)
    if reason:
        raise UsageError(
            f"--runtime-dir {path} {reason}",
            hint=f"use a directory owned by {owner_name(os.geteuid())} with mode 0700 (chmod 700 {path}; "
            "systemd: RuntimeDirectoryMode=0700), or leave --runtime-dir out for a fresh private one",
        )
    return path, False


def write_file(target: Path, content: str, mode: int, dir_mode: int = 0o700) -> None:
    """Write ``content`` to ``target`` without following a symlink or reusing a file someone prepared:
    a new file (O_EXCL, so a planted name fails rather than being opened) in the same directory, renamed
    over the target (a rename replaces a symlink; it never writes through it)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(content)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def registry_dir(environ: Mapping[str, str]) -> Path:
    """Where this user's running instances are registered: ``$XDG_RUNTIME_DIR/tandem`` (a per-user tmpfs
    on systemd hosts) when that is ours, else ``$XDG_CACHE_HOME/tandem`` or ``~/.cache/tandem``.

    Never the shared temp directory, where another user could delete, plant or symlink entries.
    """
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        with contextlib.suppress(OSError):
            if unsafe_reason(Path(runtime), os.lstat(runtime)) is None:
                return Path(runtime) / "tandem"
    cache = environ.get("XDG_CACHE_HOME")
    base = Path(cache) if cache and os.path.isabs(cache) else Path(os.path.expanduser("~")) / ".cache"
    return base / "tandem"


def private_registry(environ: Mapping[str, str]) -> Path:
    """The registry directory, created 0700 or checked: ours, not a symlink, no access for others. Our
    own directory with looser modes (made by hand, say) is tightened rather than refused."""
    path = registry_dir(environ)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
        info = os.lstat(path)
    reason = unsafe_reason(path, info)
    if reason:
        raise UsageError(
            f"the instance registry {path} {reason}",
            hint=f"remove it (tandem recreates it) or set XDG_CACHE_HOME to a directory of {owner_name(os.geteuid())}",
        )
    return path
