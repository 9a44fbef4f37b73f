"""kctx kubectl which|pin|install|list|prune, and kctx doctor."""

from __future__ import annotations

import os
import sys
from typing import Any

from kctx import choice, paths, versions
from kctx.errors import FatalError
from kctx.render import emit_json, info, safe, table
from kctx.store import Entry, Store


def _record(e: Entry) -> dict[str, Any]:
    return {"server": e.server, "pin": e.pin, "tier": e.tier}


def _entry_or_active(name: str | None) -> Entry:
    if name is None:
        from kctx.commands.store_cmds import active_entry

        name = active_entry()
        if name is None:
            raise FatalError("this shell targets no entry", hint="name one: kctx kubectl which NAME")
    return Store().get(name)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _folder_size(folder: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# -- which ------------------------------------------------------------------------------------


def which(name: str | None, output: str) -> int:
    """The kubectl an entry uses and why; learns the server's version when unknown, never downloads."""
    e = _entry_or_active(name)
    c = choice.choose(e.name, _record(e), download=False)
    installed = bool(c.path and os.path.isfile(c.path))
    if output == "json":
        emit_json({"entry": e.name, "installed": installed, **c.as_dict()})
        return 0
    for w in c.warnings:
        info(f"kctx: {w}")
    if c.path:
        sys.stdout.write(f"{c.path}\n")
        info(f"{e.name}: {c.reason}" + (f" → kubectl v{c.version}" if c.version and c.source != "pin" else ""))
        return 0
    if c.wanted:
        where = paths.kubectl_binary(c.version or c.wanted)
        sys.stdout.write(f"{where}\n")
        info(f"{e.name}: {c.reason}; kubectl v{c.wanted} is not installed yet "
             f"('k' downloads it on first use, or: kctx kubectl install {c.wanted})")
        return 0
    raise FatalError(f"{e.name}: no kubectl found", hint="kctx kubectl install 1.31 installs one")


# -- pin --------------------------------------------------------------------------------------


def pin(name: str, version: str) -> int:
    store = Store()
    e = store.get(name)
    if version == "auto":
        store.set_pin(e.name, None)
        info(f"{e.name}: kubectl follows the server's version again")
        return 0
    try:
        v = versions.normalise(version)
    except ValueError as err:
        raise FatalError(str(err), hint="a release such as 1.30.4, a minor such as 1.30, or 'auto'") from None
    store.set_pin(e.name, v)
    info(f"{e.name}: kubectl pinned to v{v}" + (" (newest installed or released patch)" if versions.is_minor_only(v) else ""))
    from kctx.probe import cached

    rec = cached(e.server)
    if rec and isinstance(rec.get("major"), int) and isinstance(rec.get("minor"), int):
        warning = versions.skew_warning(v, (rec["major"], rec["minor"]), str(rec.get("git_version")))
        if warning:
            info(f"kctx: warning: {warning}")
    return 0


# -- install ----------------------------------------------------------------------------------


def install(version: str, output: str = "text") -> int:
    from kctx import download

    try:
        v = versions.normalise(version)
    except ValueError as err:
        raise FatalError(str(err)) from None
    if versions.is_minor_only(v):
        v = download.newest_patch(v)
    already = download.installed(v)
    try:
        path = already or download.install(v)
    except download.NotFound:
        raise FatalError(f"the mirror ({download.mirror_url()}) has no kubectl v{v} for "
                         f"{'/'.join(download.platform())}", hint="kctx kubectl install X.Y takes the newest patch") from None
    if output == "json":
        emit_json({"version": v, "path": path, "already_installed": bool(already)})
    else:
        sys.stdout.write(path + "\n")
        info(f"kubectl v{v} " + ("was already installed" if already else "installed"))
    return 0


# -- list / prune -----------------------------------------------------------------------------


def _usage() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """({installed version: entries using it}, {wanted version not installed: entries})."""
    lookup = choice.Lookup(full=True)
    used: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    cache_dir = paths.kubectl_cache_dir() + os.sep
    for e in Store().entries().values():
        if e.error:
            continue
        c = choice.choose(e.name, _record(e), network=False, download=False, lookup=lookup)
        if c.path and c.path.startswith(cache_dir) and c.version:
            used.setdefault(c.version, []).append(e.name)
        elif c.wanted and not c.path:
            missing.setdefault(c.wanted, []).append(e.name)
    return used, missing


def list_(output: str) -> int:
    from kctx.download import installed_versions

    used, missing = _usage()
    rows: list[dict[str, Any]] = []
    for v in reversed(installed_versions()):
        size = _folder_size(os.path.dirname(paths.kubectl_binary(v)))
        rows.append({"version": v, "installed": True, "size": size, "path": paths.kubectl_binary(v),
                     "entries": used.get(v, [])})
    for v, names in sorted(missing.items(), key=lambda kv: versions.sort_key(kv[0]), reverse=True):
        rows.append({"version": v, "installed": False, "size": 0, "path": None, "entries": names})
    path_kubectl = choice.path_kubectl()
    if output == "json":
        emit_json({"versions": rows, "path_kubectl": path_kubectl})
        return 0
    if not rows:
        info("no kubectl installed by kctx yet" + (f" (kubectl on PATH: {path_kubectl})" if path_kubectl else ""))
        return 0

    def users(names: list[str]) -> str:
        shown = ", ".join(names[:8])
        return (shown + f", … {len(names) - 8} more" if len(names) > 8 else shown) or "-"

    sys.stdout.write(table(
        ["VERSION", "SIZE", "USED BY"],
        [[f"v{r['version']}" + ("" if r["installed"] else " (not installed)"),
          _size(r["size"]) if r["installed"] else "-", users(r["entries"])] for r in rows]))
    return 0


def prune(dry_run: bool) -> int:
    from kctx import download

    used, _ = _usage()
    freed, removed = 0, []
    for v in download.installed_versions():
        if v in used:
            continue
        if dry_run:
            freed += _folder_size(os.path.dirname(paths.kubectl_binary(v)))
        else:
            freed += download.remove(v)
        removed.append(v)
    verb = "would remove" if dry_run else "removed"
    for v in removed:
        info(f"{verb} kubectl v{v}")
    info(f"{verb} {len(removed)} version(s), {_size(freed)}" if removed else "nothing to prune: every installed kubectl is in use")
    return 0


# -- kctx list columns ------------------------------------------------------------------------


def version_columns(entries: dict[str, Entry]) -> dict[str, dict[str, Any]]:
    """Per entry, from the caches only (no network): server version, kubectl, skew.

    {name: {"server_version", "kubectl", "kubectl_source", "installed", "skew_ok", "note"}}
    """
    lookup = choice.Lookup(full=True)
    out: dict[str, dict[str, Any]] = {}
    for e in entries.values():
        if e.error:
            out[e.name] = {"server_version": None, "kubectl": None, "kubectl_source": None,
                           "installed": False, "skew_ok": None, "note": ""}
            continue
        c = choice.choose(e.name, _record(e), network=False, download=False, lookup=lookup)
        note = ""
        if c.skew_ok is False and c.server_mm:
            note = f"{choice.MARKER} skew: server {c.server_mm[0]}.{c.server_mm[1]}"
        elif c.server_error and not c.server_version:
            note = "server version unknown"
        out[e.name] = {
            "server_version": c.server_version, "kubectl": c.version or c.wanted,
            "kubectl_source": c.source, "installed": bool(c.path), "skew_ok": c.skew_ok, "note": note,
        }
    return out


def kubectl_cell(col: dict[str, Any]) -> str:
    v = col.get("kubectl")
    if not v:
        return "-" if col.get("kubectl_source") != "path" else "PATH"
    text = f"v{v}"
    if col.get("kubectl_source") == "pin":
        text += " (pin)"
    elif col.get("kubectl_source") == "fallback":
        text += " (fallback)"
    return text


def server_version_cell(col: dict[str, Any]) -> str:
    return safe(col.get("server_version") or "-")


# -- doctor -----------------------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, level: str, check: str, message: str, fix: str = "") -> None:
        self.items.append({"level": level, "check": check, "message": message, "fix": fix})

    def ok(self, check: str, message: str) -> None:
        self.add("ok", check, message)

    def warn(self, check: str, message: str, fix: str = "") -> None:
        self.add("warn", check, message, fix)

    def fail(self, check: str, message: str, fix: str = "") -> None:
        self.add("fail", check, message, fix)

    def guarded(self, check: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except FatalError as e:
            self.fail(check, str(e))
        except Exception as e:  # noqa: BLE001 - doctor reports, it never shows a traceback
            self.fail(check, f"check failed: {type(e).__name__}: {e}")
        return None


_RC_FILES = {
    "bash": (".bashrc", ".bash_profile", ".profile"),
    "zsh": (".zshrc", ".zshenv", ".zprofile"),
    "fish": (".config/fish/config.fish",),
}


def _doctor_integration(r: Report) -> None:
    """Loaded in this shell? kctx's shell function passes KCTX_SHELL only to use/ns/off, so also
    accept a session this shell switched to, else look for `kctx init` in the startup files."""
    from kctx import session

    shell = os.environ.get("KCTX_SHELL")
    if shell:
        r.ok("integration", f"shell integration loaded ({safe(shell)})")
        return
    if os.environ.get("KCTX_CONTEXT") and session.from_kubeconfig():
        r.ok("integration", f"shell integration loaded (this shell targets {safe(os.environ['KCTX_CONTEXT'])})")
        return
    home = os.path.expanduser("~")
    guess = os.path.basename(os.environ.get("SHELL", "bash")) or "bash"
    if guess not in _RC_FILES:
        guess = "bash"
    for sh, names in _RC_FILES.items():
        for n in names:
            path = os.path.join(home, n)
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    if "kctx init" in f.read():
                        r.ok("integration", f"shell integration set up in {path} ({sh}; a shell started "
                             "before that line was added does not have it)")
                        return
            except OSError:
                continue
    line = "kctx init fish | source" if guess == "fish" else f'eval "$(kctx init {guess})"'
    rc = os.path.join("~", _RC_FILES[guess][0])
    r.fail("integration", "the shell integration is not set up, so 'kctx use' cannot switch a shell",
           fix=f"add to {rc}: {line}")


def _mode_problem(path: str, want: int) -> str | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    mode = st.st_mode & 0o777
    if mode & 0o077 & ~want:
        return f"{path} has mode {mode:04o} (want {want:04o}: it may hold credentials)"
    return None


def _doctor_modes(r: Report, fix: bool) -> None:
    checks: list[tuple[str, int]] = [
        (paths.data_dir(), 0o700), (paths.entries_dir(), 0o700), (paths.index_file(), 0o600),
        (paths.hot_index_file(), 0o600), (paths.audit_file(), 0o600), (paths.runtime_dir(), 0o700),
        (paths.sessions_dir(), 0o700), (paths.config_dir(), 0o700),
    ]
    for folder in (paths.entries_dir(), paths.sessions_dir()):
        try:
            for n in sorted(os.listdir(folder)):
                p = os.path.join(folder, n)
                if os.path.isfile(p):
                    checks.append((p, 0o600))
        except OSError:
            pass
    bad = 0
    for path, want in checks:
        problem = _mode_problem(path, want)
        if not problem:
            continue
        bad += 1
        if fix:
            try:
                os.chmod(path, want)
                r.ok("file modes", f"fixed: {path} is now {want:04o}")
                continue
            except OSError as e:
                problem += f" (chmod failed: {e.strerror})"
        r.fail("file modes", problem, fix=f"chmod {want:o} {path}  (or: kctx doctor --fix)")
    if not bad:
        r.ok("file modes", f"store, entries and sessions are private ({len(checks)} paths checked)")


def _doctor_sessions(r: Report, fix: bool) -> None:
    from kctx import session

    folder = paths.sessions_dir()
    try:
        names = [n for n in os.listdir(folder) if session.pid_of(n) is not None]
    except FileNotFoundError:
        r.ok("sessions", "no session files")
        return
    stale = [n for n in names if not session._alive(session.pid_of(n) or 0)]
    if not stale:
        r.ok("sessions", f"{len(names)} session file(s), none stale")
        return
    if fix:
        removed = session.sweep(force=True)
        r.ok("sessions", f"removed {len([p for p in removed if p.endswith('.json')])} stale session file(s)")
        return
    r.warn("sessions", f"{len(stale)} stale session file(s) whose shell is gone: {', '.join(sorted(stale)[:3])}"
           + (" …" if len(stale) > 3 else ""), fix="kctx doctor --fix removes them (so does the next 'kctx use')")


def _doctor_entries(r: Report, offline: bool) -> None:
    from kctx import config, probe

    entries = Store().entries()
    if not entries:
        r.warn("entries", "the store is empty", fix="kctx import")
        return
    broken = [e for e in entries.values() if e.error]
    for e in broken:
        r.fail("entries", f"{e.name}: {safe(e.error or '')}", fix=f"re-import it, or kctx rm {e.name}")
    if not broken:
        r.ok("entries", f"{len(entries)} entries, every entry file readable")
    if not offline:
        timeout = float(config.load()["kubectl"]["probe_timeout"])
        by_server: dict[str, Entry] = {}
        for e in entries.values():
            if not e.error and e.server:
                by_server.setdefault(e.server, e)
        notes: list[str] = []

        def ask(e: Entry) -> dict[str, Any]:
            return probe.probe(e.name, timeout=timeout, warn=notes.append)

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(by_server) or 1)) as pool:
            results = dict(zip(by_server, pool.map(ask, by_server.values()), strict=True))
        for note in sorted(set(notes)):
            r.warn("servers", note)
        for server, rec in results.items():
            names = [n for n, e in entries.items() if e.server == server]
            who = ", ".join(names[:4]) + (" …" if len(names) > 4 else "")
            if rec.get("failed") and (rec.get("failed") or 0) >= (rec.get("checked") or 0):
                r.fail("servers", f"{who}: {safe(str(rec.get('error')))}",
                       fix="check the network/VPN; k keeps using the last known version")
            else:
                r.ok("servers", f"{who}: server {safe(str(rec.get('git_version')))}")
    lookup = choice.Lookup(full=True)
    for e in entries.values():
        if e.error:
            continue
        c = choice.choose(e.name, _record(e), network=False, download=False, lookup=lookup)
        if c.skew_ok is False:
            fix = ""
            if c.source == "pin":
                fix = f"kctx kubectl pin {e.name} auto"
            elif c.server_mm:
                fix = f"kctx kubectl install {c.server_mm[0]}.{c.server_mm[1]}"
            r.fail("kubectl", f"{e.name}: kubectl v{c.version} is outside the skew policy for server "
                   f"{c.server_version} ({c.reason})", fix=fix)
        elif c.source in ("fallback", "path") and c.path:
            r.warn("kubectl", f"{e.name}: server version unknown, so {c.reason}",
                   fix=f"kctx kubectl pin {e.name} X.Y, or make the server reachable")
        elif c.path:
            r.ok("kubectl", f"{e.name}: v{c.version or '?'} ({c.reason})")
        elif c.wanted:
            r.ok("kubectl", f"{e.name}: v{c.wanted} not installed yet, 'k' downloads it on first use ({c.reason})")
        else:
            r.fail("kubectl", f"{e.name}: no kubectl at all ({c.reason})", fix="kctx kubectl install 1.31")


def _doctor_binaries(r: Report) -> None:
    from kctx import download

    have = download.installed_versions()
    for v in have:
        ok = download.verify_installed(v)
        if ok is False:
            r.fail("kubectl", f"installed kubectl v{v} does not match the digest checked at download (damaged?)",
                   fix=f"kctx kubectl prune, or remove {os.path.dirname(paths.kubectl_binary(v))} and run k again")
        elif not os.access(paths.kubectl_binary(v), os.X_OK):
            r.fail("kubectl", f"installed kubectl v{v} is not executable", fix=f"chmod 755 {paths.kubectl_binary(v)}")
    on_path = choice.path_kubectl()
    if have:
        r.ok("kubectl", f"installed by kctx: {', '.join('v' + v for v in reversed(have))}")
    if on_path:
        r.ok("kubectl", f"kubectl on PATH: {on_path}")
    elif not have:
        r.warn("kubectl", "no kubectl installed and none on PATH", fix="kctx kubectl install 1.31")


def _doctor_config(r: Report) -> None:
    from kctx import config

    config.load()
    r.ok("config", f"configuration valid ({paths.config_file() if os.path.exists(paths.config_file()) else 'defaults'})")


def doctor(offline: bool, fix: bool, output: str) -> int:
    r = Report()
    r.guarded("integration", _doctor_integration, r)
    r.guarded("config", _doctor_config, r)
    r.guarded("file modes", _doctor_modes, r, fix)
    r.guarded("sessions", _doctor_sessions, r, fix)
    r.guarded("entries", _doctor_entries, r, offline)
    r.guarded("kubectl", _doctor_binaries, r)
    problems = [i for i in r.items if i["level"] == "fail"]
    warnings = [i for i in r.items if i["level"] == "warn"]
    if output == "json":
        emit_json({"ok": not problems, "checks": r.items})
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        tags = {"ok": ("ok  ", "32"), "warn": ("warn", "33"), "fail": ("FAIL", "1;31")}
        lines = []
        for i in r.items:
            tag, sgr = tags[i["level"]]
            shown = f"\x1b[{sgr}m{tag}\x1b[0m" if colour else tag
            lines.append(f"{shown}  {i['check']}: {i['message']}")
            if i["fix"]:
                lines.append(f"        fix: {i['fix']}")
        summary = (f"{len(problems)} problem(s), {len(warnings)} warning(s)" if problems or warnings
                   else "everything looks right")
        sys.stdout.write("\n".join(lines) + f"\n\n{summary}\n")
    return 1 if problems else 0
