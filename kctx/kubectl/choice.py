"""Which kubectl a target runs, and why: the ONE place that decides.

`KCTX_KUBECTL` wins (an outer `k` sets it for the kubectl it runs, so a nested `k` started by
a credential plugin goes straight there). Otherwise: the entry's pinned version, else the
kubectl matching its server's version (cached per server, learned once when unknown,
refreshed in the background when stale), downloaded and verified on first use; else a
fallback with a one-line warning. Never kctx's own `k` (kctx.kubectl.installed.is_kctx_own).

`resolve()` is what `k` runs (and what `kubectl proxy` for an entry should run); `choose()`
says why, for the commands. On a warm cache they read two small marshal files (the
server-version cache and the compiled config) and stat one binary; they import neither
httpx, json, yaml nor packaging, which load only when a probe or a download must happen.
"""

from __future__ import annotations

import os
import sys

from kctx import paths
from kctx.errors import FatalError
from kctx.kubectl import installed, versions

TYPE_CHECKING = False  # typing costs milliseconds to import; `k` imports this module
if TYPE_CHECKING:
    from typing import Any

MARKER = "⚠"  # what skew_marker() gives when an entry's kubectl is outside the skew policy


class Choice:
    """The kubectl for one target: path (None when nothing usable exists) and the reasons."""

    __slots__ = (
        "path",
        "reason",
        "server_error",
        "server_mm",
        "server_version",
        "source",
        "version",
        "wanted",
        "warnings",
    )

    def __init__(self) -> None:
        self.path: str | None = None
        self.version: str | None = None  # None: unknown (a kubectl from PATH)
        self.reason = ""
        self.source = ""  # pin | server | cached | fallback | path | env | none
        self.warnings: list[str] = []
        self.server_version: str | None = None  # the server's gitVersion as cached
        self.server_mm: tuple[int, int] | None = None  # the major.minor it behaves as
        self.wanted: str | None = None  # the release the pin or server asks for
        self.server_error: str | None = None  # the last probe's error, if it failed

    @property
    def skew_ok(self) -> bool | None:
        """Within the skew policy (None: the server's or the kubectl's version is unknown)."""
        if self.server_mm is None or not self.version:
            return None
        mm = versions.major_minor(self.version)
        return None if mm is None else versions.within_skew(mm, self.server_mm)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "version": self.version, "reason": self.reason, "source": self.source,
            "wanted": self.wanted, "server_version": self.server_version,
            "skew_ok": self.skew_ok, "warnings": list(self.warnings), "server_error": self.server_error,
        }


def _ttl() -> float:
    try:
        from kctx import config

        return float(config.load()["kubectl"]["version_ttl"])
    except Exception:  # noqa: BLE001 - a broken config must not stop `k`; the CLI reports it
        return 86400.0


def _warn(message: str) -> None:
    sys.stderr.write(f"kctx: {message}\n")


# -- installed kubectls -------------------------------------------------------------------------


class Lookup:
    """What several choose() calls share (installed versions, aliases, TTL), read once and lazily.

    full: read every server's record at once (`kctx list`, doctor); else one small file per
    server asked about (`k`).
    """

    def __init__(self, full: bool = False) -> None:
        self._cache: dict[str, Any] | None = None
        self._full = full
        self._installed: list[str] | None = None
        self._aliases: dict[str, str] | None = None
        self._ttl: float | None = None

    def server(self, url: str) -> dict[str, Any] | None:
        from kctx.kubectl import probe

        if self._full and self._cache is None:
            self._cache = probe.load_cache()
        if self._cache is not None:
            return self._cache.get(url)
        return probe.cached_fast(url)

    @property
    def installed(self) -> list[str]:
        if self._installed is None:
            self._installed = installed.installed_versions()
        return self._installed

    @property
    def aliases(self) -> dict[str, str]:
        if self._aliases is None:
            self._aliases = installed.load_aliases()
        return self._aliases

    @property
    def ttl(self) -> float:
        if self._ttl is None:
            self._ttl = _ttl()
        return self._ttl

    def forget_installed(self) -> None:
        self._installed = self._aliases = None


# -- choosing ---------------------------------------------------------------------------------


def _from_cache(c: Choice, rec: dict[str, Any] | None) -> None:
    if not rec:
        return
    c.server_error = rec.get("error")
    if rec.get("kubectl"):
        c.server_version = rec.get("git_version")
        if isinstance(rec.get("major"), int) and isinstance(rec.get("minor"), int):
            c.server_mm = (rec["major"], rec["minor"])


def _fallback(c: Choice, why: str | None, lookup: Lookup, own: str | None, path_first: bool = False) -> None:
    """Newest installed kubectl (within the skew policy when the server is known), else PATH's.

    path_first: a target that is no kctx entry prefers the user's own kubectl on PATH.
    """
    have = lookup.installed
    if c.server_mm:
        fitting = [v for v in have if versions.within_skew(versions.major_minor(v) or (0, 0), c.server_mm)]
        have = fitting or have
    on_path = installed.path_kubectl(own) if path_first or not have else None
    if on_path or not have:
        c.path, c.version, c.source = on_path, None, "path"
        c.reason = f"fallback: kubectl on PATH ({on_path})" if on_path else "fallback: no kubectl found"
    else:
        c.path, c.version, c.source = paths.kubectl_binary(have[-1]), have[-1], "fallback"
        c.reason = f"fallback: newest installed kubectl v{have[-1]}"
    if why:
        c.warnings.append(f"{why}; using {c.reason.split(': ', 1)[1]}")


def choose(name: str | None, record: dict[str, Any] | None, server: str | None = None, *,
           network: bool = True, download: bool = True, lookup: Lookup | None = None,
           progress: bool | None = None, own: str | None = None) -> Choice:
    """The kubectl for entry `name` (its index record), or for a bare server URL.

    network: may probe the server (synchronously when its version is unknown, in the background
    when stale). download: may download the wanted kubectl. With both False this is cache-only,
    as `kctx list`, the prompt marker and `kubectl list/prune` need.
    """
    c = Choice()
    env = os.environ.get("KCTX_KUBECTL")
    if env:
        c.path, c.source, c.reason = env, "env", "KCTX_KUBECTL"
        return c
    if os.environ.get("KCTX_IN_K"):
        # Inside a credential plugin run by kubectl: never probe, download or spawn here.
        network = download = False
    record = record or {}
    server = server or record.get("server") or ""
    lookup = lookup or Lookup()
    rec = lookup.server(server) if server else None
    _from_cache(c, rec)
    pin = record.get("pin")
    unknown_why: str | None = None
    if pin:
        c.wanted, c.source = pin, "pin"
        c.reason = f"pinned to v{pin}"
    elif rec and rec.get("kubectl"):
        from kctx.kubectl import probe

        c.wanted, c.source = rec["kubectl"], "server"
        c.reason = f"matched to server {c.server_version}"
        if rec.get("unreachable") and float(rec.get("failed") or 0) > float(rec.get("checked") or 0):
            c.source = "cached"
            c.reason = f"matched to server {c.server_version}, cached: the server did not answer lately"
        if network and name and not probe.is_fresh(rec, lookup.ttl) and probe.may_probe(rec, lookup.ttl):
            probe.spawn_refresh(name)  # `k` goes on with the cached version
    elif name and server:
        from kctx.kubectl import probe

        if network and probe.may_probe(rec, lookup.ttl):
            rec = probe.probe(name, warn=_warn)
            _from_cache(c, rec)
        if rec and rec.get("kubectl"):
            c.wanted, c.source = rec["kubectl"], "server"
            c.reason = f"matched to server {c.server_version}"
        else:
            err = (rec or {}).get("error") or "not probed yet"
            unknown_why = f"{name}: server version unknown ({err})"
    if c.wanted:
        found = installed.installed_path(c.wanted, lookup.installed, lookup.aliases)
        if found:
            c.path, c.version = found
        elif download:
            try:
                from kctx.kubectl import download as dl

                c.path, c.version = dl.ensure(c.wanted, progress=progress)
                lookup.forget_installed()
            except FatalError as e:
                _fallback(c, f"cannot get kubectl v{c.wanted}: {e}", lookup, own)
        else:
            # Not installed yet: `k` downloads it on first use.
            c.version = c.wanted if not versions.is_minor_only(c.wanted) else None
    else:
        _fallback(c, unknown_why if name and server else None, lookup, own, path_first=not name)
    if c.server_mm and c.version:
        warning = versions.skew_warning(c.version, c.server_mm, c.server_version or "")
        if warning:
            if c.source == "pin" and name:
                warning += f"; 'kctx kubectl pin {name} auto' matches the server again"
            c.warnings.append((f"{name}: " if name else "") + warning)
    return c


# -- the target of a plain command in a kctx shell, cheaply ------------------------------------

_TARGET_FLAGS = ("kubeconfig", "context", "cluster", "server", "user")


HINT = "install kubectl, or set KCTX_KUBECTL to its path"


def resolve(entry: str | None = None, target: object = None, own: str | None = None) -> str:
    """The path of the kubectl to run for `entry` (a kctx entry name, when known); warnings on stderr.

    `target` is the guard's lazily resolved target (kctx.guard.target.Target); its entry and
    server decide, so `--context`, `--kubeconfig` and `--server` pick the kubectl of the
    cluster they reach. `own` is the path of the running `k`, never returned.
    """
    explicit = os.environ.get("KCTX_KUBECTL")
    if explicit:
        if not installed.executable(explicit):
            raise FatalError(f"KCTX_KUBECTL={explicit} is not an executable file", hint=HINT)
        if installed.is_kctx_own(explicit, own):
            raise FatalError(f"KCTX_KUBECTL={explicit} is kctx's own k, not kubectl", hint=HINT)
        return explicit
    name, server, record = entry, None, None
    fast = session_entry(target) if target is not None else None
    if fast is not None:
        name, record = fast  # a plain command in a kctx shell: no need to resolve the whole target
    elif target is not None:
        name = getattr(target, "entry", None) or name
        server = getattr(target, "server", None) or None
    if name and record is None:
        from kctx import session

        record = session.entry_record(name)
    c = choose(name, record, server, own=own)
    for warning in c.warnings:
        _warn(warning)
    if c.path and installed.executable(c.path) and not installed.is_kctx_own(c.path, own):
        return c.path
    raise FatalError("no kubectl found on PATH (kctx's own k does not count), and none installed", hint=HINT)


def session_entry(target: Any) -> tuple[str, dict[str, Any]] | None:
    """(entry, record) for a plain command in a shell switched by `kctx use`, else None.

    Only the common case, recognised without resolving the guard's whole target: KUBECONFIG is
    '<session file>:<entry file>', no flag moves the target, and the session's current context
    is still the entry (with its cluster). Anything else goes through the full target.
    """
    p = getattr(target, "_p", None)
    if p is None or "entry" in getattr(target, "__dict__", {}):
        return None  # unknown shape, or resolved already (then its answer is free)
    if p.uncertain or any(p.last(f) is not None for f in _TARGET_FLAGS):
        return None
    files = [f for f in os.environ.get("KUBECONFIG", "").split(os.pathsep) if f]
    if len(files) != 2:
        return None
    from kctx import session

    sess, entry_file = files
    folder, base = os.path.split(os.path.abspath(entry_file))
    if not session.is_session(sess) or folder != os.path.abspath(paths.entries_dir()) or not base.endswith(".yaml"):
        return None
    name = base[:-5]
    text = session.read_text(sess)
    if not text or not text.lstrip().startswith("{"):
        return None  # rewritten as YAML by `kubectl config ...`: let the full target read it
    try:
        from kctx import minijson

        doc = minijson.loads(text)
    except (ImportError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("current-context") != name or doc.get("clusters") or doc.get("users"):
        return None
    ctx = next((c.get("context") for c in doc.get("contexts") or [] if isinstance(c, dict) and c.get("name") == name),
               None)
    rec = session.entry_record(name)
    if not isinstance(ctx, dict) or rec is None or rec.get("error") or ctx.get("cluster") != rec.get("cluster"):
        return None
    return name, rec


def on_use(name: str, record: dict[str, Any] | None) -> None:
    """After `kctx use NAME`: refresh the server version in the background when missing or stale.

    Costs one marshal read and, at most once a TTL, a posix_spawn; never raises.
    """
    try:
        if os.environ.get("KCTX_IN_K") or os.environ.get("KCTX_KUBECTL"):
            return
        server = (record or {}).get("server")
        if not server:
            return
        from kctx.kubectl import probe

        rec = probe.cached_fast(server)
        ttl = _ttl()
        if not probe.is_fresh(rec, ttl) and probe.may_probe(rec, ttl):
            probe.spawn_refresh(name)
    except Exception:  # noqa: BLE001, S110 - `kctx use` must never fail or slow down because of this
        pass


def skew_marker(record: dict[str, Any] | None, name: str | None = None) -> str:
    """MARKER when this entry's kubectl is outside the skew policy, else '' (cache only, no I/O beyond it)."""
    try:
        c = choose(name, record, network=False, download=False)
        return MARKER if c.skew_ok is False else ""
    except Exception:  # noqa: BLE001 - the prompt never fails because of a marker
        return ""
