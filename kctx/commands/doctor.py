"""kctx doctor: checks the setup (integration, config, file modes, sessions, entries, servers,
kubectl per entry) and says how to fix what is wrong."""

from __future__ import annotations

import os
from typing import Any

from kctx import paths, render
from kctx.errors import FatalError
from kctx.kubectl import choice, installed
from kctx.render import safe
from kctx.store import Entry, Store


def _record(e: Entry) -> dict[str, Any]:
    return {"server": e.server, "pin": e.pin, "tier": e.tier}


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


_SHELLS = ("bash", "zsh", "fish")


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
    guess = os.path.basename(os.environ.get("SHELL", "bash")) or "bash"
    if guess not in _SHELLS:
        guess = "bash"
    for sh in _SHELLS:
        for path in paths.shell_rc_files(sh):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    if "kctx init" in f.read():
                        r.ok("integration", f"shell integration set up in {path} ({sh}; a shell started "
                             "before that line was added does not have it)")
                        return
            except OSError:
                continue
    line = "kctx init fish | source" if guess == "fish" else f'eval "$(kctx init {guess})"'
    rc = paths.shown(paths.shell_rc_files(guess)[0])
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


def _doctor_guard(r: Report) -> None:
    """The API guard of every guarded session (kctx.apiguard): up, or down with its shell alive."""
    from kctx import session
    from kctx.apiguard import state

    try:
        names = [n for n in os.listdir(paths.sessions_dir()) if n.endswith(".json" + paths.GUARD_STATE)]
    except FileNotFoundError:
        names = []
    mine = session.guarded_session()
    down, up = [], 0
    for name in names:
        s = os.path.join(paths.sessions_dir(), name[: -len(paths.GUARD_STATE)])
        if state.alive(state.read_state(s)):
            up += 1
        elif session._alive(session.pid_of(s) or 0):
            down.append(s)
    if mine:
        st = state.read_state(mine) or {}
        if mine in down:
            r.fail("API guard", "this shell's guard is down: its clients get connection refused",
                   fix="any kctx or k command in this shell restarts it")
        else:
            r.ok("API guard", f"this shell's guard is active on 127.0.0.1:{st.get('port')} (pid {st.get('pid')})")
    others = [s for s in down if s != mine]
    if others:
        r.warn("API guard", f"{len(others)} other shell(s) have their guard down",
               fix="the next kctx or k command in each restarts it")
    elif not mine:
        r.ok("API guard", f"{up} guard(s) running, none down" if names else "no guarded shell")


def _doctor_entries(r: Report, offline: bool) -> None:
    from kctx import config
    from kctx.kubectl import probe

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
        elif c.source in ("fallback", "path") and c.path and not c.server_mm:
            r.warn("kubectl", f"{e.name}: server version unknown, so {c.reason}",
                   fix=f"kctx kubectl pin {e.name} X.Y, or make the server reachable")
        elif c.warnings and c.path:
            for w in c.warnings:
                r.warn("kubectl", w, fix=f"kctx kubectl install {c.wanted}" if c.wanted else "")
        elif c.path:
            r.ok("kubectl", f"{e.name}: v{c.version or '?'} ({c.reason})")
        elif c.wanted:
            r.ok("kubectl", f"{e.name}: v{c.wanted} not installed yet, 'k' downloads it on first use ({c.reason})")
        else:
            r.fail("kubectl", f"{e.name}: no kubectl at all ({c.reason})", fix="kctx kubectl install 1.31")


def _doctor_binaries(r: Report) -> None:
    from kctx.kubectl import download

    have = installed.installed_versions()
    for v in have:
        ok = download.verify_installed(v)
        if ok is False:
            r.fail("kubectl", f"installed kubectl v{v} does not match the digest checked at download (damaged?)",
                   fix=f"kctx kubectl prune, or remove {os.path.dirname(paths.kubectl_binary(v))} and run k again")
        elif not os.access(paths.kubectl_binary(v), os.X_OK):
            r.fail("kubectl", f"installed kubectl v{v} is not executable", fix=f"chmod 755 {paths.kubectl_binary(v)}")
    import time

    from kctx.kubectl import failures

    for v, (when, _n, error) in sorted(failures.load().items()):
        wait = failures.waiting(v)
        r.warn("kubectl", f"the last download of kubectl v{v} failed {failures.age(time.time() - when)} ago: "
               f"{safe(error)}" + (f" (k tries again in {failures.age(wait[0])})" if wait else ""),
               fix=f"kctx kubectl install {v} tries now")
    on_path = installed.path_kubectl()
    if have:
        r.ok("kubectl", f"installed by kctx: {', '.join('v' + v for v in reversed(have))}")
    if on_path:
        release = installed.path_version(on_path)
        r.ok("kubectl", f"kubectl on PATH: {on_path}" + (f" (v{release})" if release else
                                                         " (it did not say its version)"))
    elif not have:
        r.warn("kubectl", "no kubectl installed and none on PATH", fix="kctx kubectl install 1.31")


def _doctor_config(r: Report) -> None:
    from kctx import config

    config.load()
    r.ok("config", f"configuration valid ({paths.config_file() if os.path.exists(paths.config_file()) else 'defaults'})")


def _doctor_policy(r: Report) -> None:
    """Each team policy file, read afresh (not from the cache): readable, valid, its rules."""
    from kctx import config, policy

    files = config.policy_files(config.load())
    if not files:
        r.ok("policy", "no team policy (config 'policy', KCTX_POLICY)")
        return
    for path in files:
        try:
            rules = policy.parse(path)
        except policy.PolicyError as e:
            r.fail("policy", str(e), fix=f"correct {path}; until then kctx keeps its last good rules in force")
            continue
        r.ok("policy", f"{path}: {len(rules)} rule(s)")


def doctor(offline: bool, fix: bool, output: str) -> int:
    r = Report()
    r.guarded("integration", _doctor_integration, r)
    r.guarded("config", _doctor_config, r)
    r.guarded("policy", _doctor_policy, r)
    r.guarded("file modes", _doctor_modes, r, fix)
    r.guarded("sessions", _doctor_sessions, r, fix)
    r.guarded("API guard", _doctor_guard, r)
    r.guarded("entries", _doctor_entries, r, offline)
    r.guarded("kubectl", _doctor_binaries, r)
    problems = [i for i in r.items if i["level"] == "fail"]
    render.show(output, {"ok": not problems, "checks": r.items}, _text)
    return 1 if problems else 0


def _text(result: dict[str, Any]) -> str:
    on = render.colour_on()
    lines = []
    for i in result["checks"]:
        lines.append(f"{render.level(i['level'], on)}  {i['check']}: {i['message']}")
        if i["fix"]:
            lines.append(f"        fix: {i['fix']}")
    problems = sum(i["level"] == "fail" for i in result["checks"])
    warnings = sum(i["level"] == "warn" for i in result["checks"])
    summary = f"{problems} problem(s), {warnings} warning(s)" if problems or warnings else "everything looks right"
    return "\n".join(lines) + f"\n\n{summary}\n"
