"""The kubectl binaries at hand: those kctx installed, the one on PATH, and what is kctx's own `k`.

kctx installs kubectl `X.Y.Z` as `<cache>/kubectl/X.Y.Z/kubectl` (kctx.kubectl.download writes
them); `aliases.bin` maps a release the mirror lacked to the patch installed instead. Never
kubectl: kctx's own `k` (the running one, a symlink or copy of it, or a script that starts
kctx); running it as kubectl would recurse. On the path of every `k`: only `os` at import.
"""

from __future__ import annotations

import os

from kctx import paths
from kctx.fsutil import read_marshal
from kctx.kubectl import versions

# Scripts of kctx's that must never be taken for kubectl carry this text near their start.
MARKER = b"kctx-not-kubectl"
_HEAD = 4096
_SCRIPT_MAX = 1 << 16  # a real kubectl is tens of MB; kctx's scripts and shims are small


def is_kctx_own(path: str, own: str | None = None) -> bool:
    """True when `path` is kctx's own `k` or another way into kctx, never a kubectl.

    That is: the same file as `own` (the running `k`), a file whose real name is `k` or `kctx`
    (a symlink `kubectl -> k`), or a small `#!` script that carries kctx's marker or runs kctx.
    """
    try:
        real = os.path.realpath(path)
        if own and os.path.samefile(real, own):
            return True
        if os.path.basename(real) in ("k", "kctx"):
            return True
        if os.path.getsize(real) > _SCRIPT_MAX:
            return False
        with open(real, "rb") as f:
            head = f.read(_HEAD)
    except OSError:
        return False
    return head[:2] == b"#!" and (MARKER in head or _runs_kctx(head))


_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/")
_END = frozenset(b" \t\r\n\"';&|)")


def _runs_kctx(head: bytes) -> bool:
    """A script that names kctx as a command or module (`exec kctx-guard`, `from kctx.guard...`)
    or runs a file called `kctx` (`exec /opt/bin/kctx`); a folder like `/tmp/test_kctx0/` in a
    path is neither."""
    for word, boundary_before in ((b"kctx", True), (b"/kctx", False)):
        i = head.find(word)
        while i >= 0:
            j = i + len(word)
            if boundary_before:
                if i == 0 or head[i - 1] not in _WORD:
                    return True
            elif j == len(head) or head[j] in _END:
                return True
            i = head.find(word, i + 1)
    return False


def executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def installed_versions() -> list[str]:
    """Every kubectl version kctx installed, oldest first."""
    try:
        names = os.listdir(paths.kubectl_cache_dir())
    except OSError:
        return []
    found = [n for n in names if n[:1].isdigit() and os.path.isfile(paths.kubectl_binary(n))]
    return sorted(found, key=versions.sort_key)


def load_aliases() -> dict[str, str]:
    """{wanted release: installed release} for releases the mirror lacked (another patch of the minor)."""

    try:
        data = read_marshal(paths.kubectl_aliases_file())
        return data if isinstance(data, dict) else {}
    except (OSError, EOFError, ValueError, TypeError):
        return {}


def save_alias(wanted: str, got: str) -> None:
    """Remember that release `wanted` is served by installed release `got`."""
    import marshal

    from kctx.fsutil import atomic_write, file_lock

    with file_lock(paths.versions_lock_file()):
        aliases = load_aliases()
        aliases[wanted] = got
        atomic_write(paths.kubectl_aliases_file(), marshal.dumps(aliases), fsync=False)


def installed_path(wanted: str, have: list[str] | None = None,
                   aliases: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(path, version) of an installed kubectl for `wanted` ('1.30.4', or '1.30': newest patch).

    `have` and `aliases`: installed_versions() and load_aliases(), when the caller read them.
    """
    if versions.is_minor_only(wanted):
        mm = versions.major_minor(wanted)
        found = [v for v in (installed_versions() if have is None else have)
                 if versions.major_minor(v) == mm and "-" not in v]
        return (paths.kubectl_binary(found[-1]), found[-1]) if found else None
    path = paths.kubectl_binary(wanted)
    if os.path.isfile(path):
        return path, wanted
    alias = (load_aliases() if aliases is None else aliases).get(wanted)
    if alias and os.path.isfile(paths.kubectl_binary(alias)):
        return paths.kubectl_binary(alias), alias
    return None


_path_kubectl: dict[tuple[str, str | None], str | None] = {}


def path_kubectl(own: str | None = None) -> str | None:
    """The first kubectl on PATH that is not kctx's own (looked up once per PATH)."""
    key = (os.environ.get("PATH", os.defpath), own)
    if key not in _path_kubectl:
        _path_kubectl[key] = _find_path_kubectl(key[0], own)
    return _path_kubectl[key]


def _find_path_kubectl(search: str, own: str | None) -> str | None:
    for folder in search.split(os.pathsep):
        cand = os.path.join(folder or ".", "kubectl")
        if executable(cand) and not is_kctx_own(cand, own):
            return cand
    return None


def real_kubectl() -> str | None:
    """A real kubectl to ask things with (never `k`): the newest installed, else PATH's."""
    have = installed_versions()
    if have:
        return paths.kubectl_binary(have[-1])
    return path_kubectl()


# -- what a kubectl on PATH is ------------------------------------------------------------------
# A kubectl kctx did not install is identified by its own `version --client -o json`, once per
# file: the answer is cached by real path, size and mtime (a new kubectl there is asked again).

IDENTIFY_TIMEOUT = 5.0
_DEPTH_LIMIT = "4"  # kctx.guard.main.MAX_DEPTH: a `k` behind the name refuses at once


def path_version(path: str, ask: bool = True) -> str | None:
    """The release of the kubectl at `path` ('1.37.1'), None when it does not answer as kubectl.

    ask=False: the cached answer only (None when it was never asked): no process is started.
    """
    import marshal

    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    try:
        known = read_marshal(paths.path_versions_file())
        if not isinstance(known, dict):
            known = {}
    except (OSError, EOFError, ValueError, TypeError):
        known = {}
    hit = known.get(real)
    if isinstance(hit, tuple) and len(hit) == 2 and hit[0] == stamp:
        return hit[1]
    if not ask:
        return None
    version = None if is_kctx_own(real) else _ask_version(real)
    try:
        from kctx.fsutil import atomic_write, ensure_dir

        ensure_dir(paths.cache_dir())
        known[real] = (stamp, version)
        atomic_write(paths.path_versions_file(), marshal.dumps(known), fsync=False)
    except OSError:
        pass  # a read-only cache only costs speed
    return version


def _ask_version(path: str) -> str | None:
    import json
    import subprocess

    # KCTX_IN_K at the depth limit: should this be a wrapper that leads to kctx's `k`, it stops
    # at once instead of choosing a kubectl (which could lead back here).
    env = {k: v for k, v in os.environ.items() if k != "KCTX_KUBECTL"}
    env["KCTX_IN_K"] = _DEPTH_LIMIT
    try:
        r = subprocess.run([path, "version", "--client", "-o", "json"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=IDENTIFY_TIMEOUT, check=False)
        info = json.loads(r.stdout or b"{}").get("clientVersion") if r.returncode == 0 else None
        git = info.get("gitVersion") if isinstance(info, dict) else None
        if not isinstance(git, str):
            return None
        return versions.parse(git).release
    except (OSError, subprocess.TimeoutExpired, ValueError, AttributeError):
        return None
