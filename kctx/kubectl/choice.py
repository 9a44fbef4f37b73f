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
        "said",
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
        self.said: list[str] = []  # one key per warning: what `k` says once per shell session

    def say(self, key: str, warning: str) -> None:
        self.said.append(key)
        self.warnings.append(warning)

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


def _kubectl_config() -> dict[str, Any]:
    try:
        from kctx import config

        return config.load()["kubectl"]
    except Exception:  # noqa: BLE001 - a broken config must not stop `k`; the CLI reports it
        return {}


def _warn(message: str) -> None:
    sys.stderr.write(f"kctx: {message}\n")


# -- what is here -------------------------------------------------------------------------------


class Lookup:
    """What several choose() calls share (installed versions, aliases, settings), read once and lazily.

    full: read every server's record at once (`kctx list`, doctor); else one small file per
    server asked about (`k`).
    """

    def __init__(self, full: bool = False) -> None:
        self._cache: dict[str, Any] | None = None
        self._full = full
        self._installed: list[str] | None = None
        self._aliases: dict[str, str] | None = None
        self._config: dict[str, Any] | None = None
        self._path: str | None | bool = False  # False: not looked up yet
        self._release: dict[str, str | None] = {}
        self.ask = True  # may run a PATH kubectl once to learn its version (not on cache-only paths)

    def server(self, url: str) -> dict[str, Any] | None:
        if self._cache is None and not self._full:
            from kctx.kubectl import probe

            return probe.cached_fast(url)
        return self.servers().get(url)

    def servers(self) -> dict[str, dict[str, Any]]:
        """Every server with a version record: {URL: record} (the whole cache, read once)."""
        if self._cache is None:
            from kctx.kubectl import probe

            self._cache = probe.load_cache()
        return self._cache

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

    def _setting(self, key: str, default: Any) -> Any:
        if self._config is None:
            self._config = _kubectl_config()
        return self._config.get(key, default)

    @property
    def ttl(self) -> float:
        return float(self._setting("version_ttl", 86400.0))

    @property
    def mode(self) -> str:
        """kubectl.download: auto (a kubectl here that fits is used), always (kctx's own copies), never."""
        return str(self._setting("download", "auto"))

    def on_path(self, own: str | None, identify: bool = True) -> tuple[str | None, str | None]:
        """(path, release) of the kubectl on PATH (release None when it cannot tell, or when
        not `identify`: a choice that does not depend on it runs nothing to learn it)."""
        if self._path is False:
            self._path = installed.path_kubectl(own)
        found = self._path if isinstance(self._path, str) else None
        if not found:
            return None, None
        if found not in self._release or (identify and self._release[found] is None and self.ask):
            self._release[found] = installed.path_version(found, ask=identify and self.ask)
        return found, self._release[found]

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


def _here(lookup: Lookup, own: str | None, server_mm: tuple[int, int] | None,
          path_first: bool = False) -> tuple[str, str | None, str] | None:
    """The best kubectl here, (path, release, source): within the skew policy when the server's
    version is known (the same minor first, then the newest), else the newest installed, else
    PATH's. None when there is none (or none within the policy, for a known server)."""
    cands: list[tuple[str, str | None, str]] = [
        (paths.kubectl_binary(v), v, "fallback") for v in lookup.installed]
    path, release = (lookup.on_path(own, identify=server_mm is not None) if (server_mm or path_first or not cands)
                     else (None, None))
    if path:
        cands.append((path, release, "path"))
    if server_mm is None:
        if path_first and path:
            return path, release, "path"
        return max(cands, key=lambda x: (x[2] == "fallback", versions.sort_key(x[1] or "0"))) if cands else None

    def fit(v: str | None) -> tuple[int, int] | None:
        mm = versions.major_minor(v) if v else None
        return mm if mm and versions.within_skew(mm, server_mm) else None

    fitting = [x for x in cands if fit(x[1])]
    if not fitting:
        return None
    return max(fitting, key=lambda x: (fit(x[1]) == server_mm, versions.sort_key(x[1] or "0"), x[2] == "fallback"))


def _fallback(c: Choice, why: str | None, lookup: Lookup, own: str | None, path_first: bool = False,
              key: str = "") -> None:
    """Whatever kubectl is here, with a warning naming why the wanted one is not used."""
    found = _here(lookup, own, c.server_mm, path_first) or _here(lookup, own, None, path_first)
    if found is None:
        c.path, c.version, c.source = None, None, "none"
        c.reason = "fallback: no kubectl found"
    else:
        c.path, c.version, c.source = found
        where = f"kubectl on PATH ({c.path})" if c.source == "path" else f"newest installed kubectl v{c.version}"
        if c.source == "path" and c.version:
            where = f"kubectl v{c.version} on PATH ({c.path})"
        c.reason = f"fallback: {where}"
    if why:
        c.say(f"fallback:{key}:{c.path}", f"{why}; using {c.reason.split(': ', 1)[1]}")


def choose(name: str | None, record: dict[str, Any] | None, server: str | None = None, *,
           network: bool = True, download: bool = True, lookup: Lookup | None = None,
           progress: bool | None = None, own: str | None = None, force: bool = False) -> Choice:
    """The kubectl for entry `name` (its index record), or for a bare server URL.

    network: may learn the server's version (in the background; now only when there is no
    kubectl here to run meanwhile, or with `force`). download: may get the wanted kubectl (in
    the background when one here fits the server meanwhile, else now). force: ignore the
    back-off after failed probes (`kctx kubectl which`, doctor). With network and download
    False this is cache-only, as `kctx list`, the prompt marker and `kubectl list/prune` need.
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
    if not network and not download:
        lookup.ask = False  # cache-only (kctx list, the prompt marker): no kubectl is run to learn its version
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
        if network and name and not probe.is_fresh(rec, lookup.ttl):
            if force:
                _from_cache(c, probe.probe(name, warn=_warn))  # asked for now: the cache answers on failure
            elif probe.may_probe(rec, lookup.ttl):
                probe.spawn_refresh(name)  # `k` goes on with the cached version
    elif name and server:
        from kctx.kubectl import probe

        if network and (force or probe.may_probe(rec, lookup.ttl)):
            if force or _here(lookup, own, None) is None:
                rec = probe.probe(name, warn=_warn)  # nothing here to run meanwhile: ask now
                _from_cache(c, rec)
            else:
                probe.spawn_refresh(name)
        if rec and rec.get("kubectl"):
            c.wanted, c.source = rec["kubectl"], "server"
            c.reason = f"matched to server {c.server_version}"
        else:
            err = (rec or {}).get("error") or ("asking it in the background" if network else "not asked yet")
            unknown_why = f"{name}: server version unknown ({err})"
    if c.wanted:
        _wanted(c, name, lookup, own, download, progress)
    else:
        _fallback(c, unknown_why if name and server else None, lookup, own, path_first=not name, key="unknown")
    if c.server_mm and c.version:
        warning = versions.skew_warning(c.version, c.server_mm, c.server_version or "")
        fell = [i for i, key in enumerate(c.said) if key.startswith("fallback:")]
        if warning and fell:  # one line: why the fallback, and that it is outside the policy
            c.warnings[fell[0]] += (f", outside the skew policy for server {c.server_version} "
                                    f"(supported: kubectl {versions.supported_range(c.server_mm)})")
        elif warning:
            if c.source == "pin" and name:
                warning += f"; 'kctx kubectl pin {name} auto' matches the server again"
            c.say(f"skew:{c.version}:{c.server_version}", (f"{name}: " if name else "") + warning)
    return c


def _wanted(c: Choice, name: str | None, lookup: Lookup, own: str | None, download: bool,
            progress: bool | None) -> None:
    """c.wanted is known: installed, else a fitting kubectl here (fetching the wanted one in the
    background), else downloaded now; else whatever is here, with a warning."""
    wanted = c.wanted or ""
    found = installed.installed_path(wanted, lookup.installed, lookup.aliases)
    if found:
        c.path, c.version = found
        return
    mode = lookup.mode
    exact = not versions.is_minor_only(wanted)
    if c.source == "pin":
        on_path, release = lookup.on_path(own) if mode != "always" else (None, None)
        if on_path and release and (release == wanted or (not exact and versions.major_minor(release)
                                                           == versions.major_minor(wanted))):
            c.path, c.version, c.source = on_path, release, "path"
            c.reason += f": kubectl v{release} on PATH ({on_path})"
            return
        here = None  # a pin asks for that version: wait for it rather than run another
    else:
        here = _here(lookup, own, c.server_mm)
        if here and mode != "always" and here[2] == "path" and here[1] and c.server_mm \
                and versions.major_minor(here[1]) == c.server_mm:
            c.path, c.version, c.source = here
            c.reason += f": kubectl v{here[1]} on PATH ({here[0]})"
            return  # the server's own minor, already here: nothing to download
    from kctx.kubectl import failures

    may_fetch = download and mode != "never"
    if here is not None:
        c.path, c.version = here[0], here[1]
        c.source = "path" if here[2] == "path" else "fallback"
        where = f"kubectl v{here[1] or '?'} " + (f"on PATH ({here[0]})" if here[2] == "path" else "installed by kctx")
        wait = failures.waiting(wanted)
        if may_fetch and not wait:
            from kctx.kubectl import spawn

            spawn.start(spawn.fetch_marker(wanted), ["fetch", wanted], stale=600.0)
            later = "fetching it in the background for next time"
        elif wait:
            later = f"its download failed lately: {wait[1]}"
        elif mode == "never":
            later = "kubectl.download is never"
        else:
            later = "not installed yet"
        c.reason += f"; v{wanted} is not here yet, so {where}"
        c.say(f"fit:{wanted}:{c.path}", f"{name + ': ' if name else ''}server {c.server_version} wants kubectl "
              f"v{wanted} ({later}); using {where}, within the skew policy "
              f"(kubectl {versions.supported_range(c.server_mm) if c.server_mm else '?'})")
        return
    if not may_fetch:
        if mode == "never" and download:
            _fallback(c, f"{name + ': ' if name else ''}kubectl v{wanted} is not installed and "
                      "kubectl.download is never", lookup, own, key=f"never:{wanted}")
            return
        # Not installed yet: `k` downloads it on first use.
        c.version = wanted if exact else None
        return
    from kctx.errors import FatalError

    try:
        from kctx.kubectl import download as dl

        c.path, c.version = dl.ensure(wanted, progress=progress)
        lookup.forget_installed()
    except FatalError as e:
        _fallback(c, f"cannot get kubectl v{wanted}: {e}", lookup, own, key=f"download:{wanted}")


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
    for warning in _unsaid(name or server or "", c):
        _warn(warning)
    if c.path and installed.executable(c.path) and not installed.is_kctx_own(c.path, own):
        return c.path
    raise FatalError("no kubectl found on PATH (kctx's own k does not count), and none installed", hint=HINT)


def _unsaid(target: str, c: Choice) -> list[str]:
    """The warnings of `c` not yet said in this shell session (for this target and reason); marks them said.

    The session is the kctx session KUBECONFIG starts with, else the shell that started `k`
    (its parent process). `kctx kubectl which` and doctor always show every warning.
    """
    if not c.warnings:
        return []
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep, 1)[0]
    session = (os.path.basename(first) if first and os.path.dirname(os.path.abspath(first))
               == os.path.abspath(paths.sessions_dir()) else f"ppid-{os.getppid()}")
    said_file = paths.said_file(session)
    try:
        with open(said_file, encoding="utf-8", errors="replace") as f:
            said = set(f.read().splitlines())
    except OSError:
        said = set()
    out, new = [], []
    for key, warning in zip(c.said, c.warnings, strict=False):
        line = f"{target}\t{key}".replace("\n", " ")
        if line not in said:
            out.append(warning)
            new.append(line)
    if new:
        try:
            os.makedirs(os.path.dirname(said_file), mode=0o700, exist_ok=True)
            fd = os.open(said_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, "".join(line + "\n" for line in new).encode("utf-8", "surrogateescape"))
            finally:
                os.close(fd)
        except OSError:
            pass  # cannot remember: say it again next time rather than never
    return out


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
        ttl = Lookup().ttl
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
