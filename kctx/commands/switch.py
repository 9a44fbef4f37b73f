"""use, ns, off, current, exec, prompt, unlock, lock: switching this shell's target.

The interactive pick of `kctx use` with no name is kctx/commands/pick.py; the shell
integration that `kctx init` prints is kctx/commands/init.py.

The commands that change the shell (use, ns, off, unlock, lock) print shell code on stdout,
which the integration's `kctx` function evaluates only when they succeed; every message for
humans goes to stderr. They run on the hot path, so this module imports little at the top:
kctx.main calls them without loading click.

What the integration's `kctx` function passes in (environment of the command only):
  KCTX_SHELL (bash|zsh|fish|nu), KCTX_SHELL_PID, KCTX_SESSION (this shell's session file),
  KCTX_PREVIOUS / KCTX_PREVIOUS_NS (for `use -` / `ns -`).
What `use` sets in the shell:
  exported   KUBECONFIG=<session>:<entry file>, KCTX_CONTEXT, KCTX_NAMESPACE, KCTX_TIER
  shell-only __kctx_session, __kctx_pid, __kctx_kubeconfig (what KUBECONFIG should be),
             __kctx_content (the session file as written), __kctx_entry, __kctx_entry_file,
             __kctx_seg / __kctx_tmpl (the prompt segment, and with NS_SLOT for the namespace),
             __kctx_prev_entry, __kctx_prev_ns, __kctx_unlock_until, __kctx_unlock_ind,
             __kctx_guard (<session>.guard of an API-guarded shell), __kctx_guard_ind (its marker)
             and __kctx_guard_pid (the guard pid the hook last read from it);
             the hook derives KCTX_PS1 (bash, zsh; fish: kctx_prompt) from them;
             nu keeps them in the record $env.__kctx (kctx/shell/nu.py).
`off` points KUBECONFIG at a session file whose current context does not exist, so kubectl
refuses to run instead of falling back to ~/.kube/config, and unsets KCTX_CONTEXT/NAMESPACE/TIER.
"""

from __future__ import annotations

import os
import sys

from kctx import paths, session
from kctx.errors import WAYS_ON, FatalError
from kctx.shell import SHELLS
from kctx.shellcode import NS_SLOT, Code

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self

MAX_UNLOCK = 24 * 3600
_DNS_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


# -- plumbing -------------------------------------------------------------------------------------
def info(message: str) -> None:
    sys.stderr.write(message + "\n")


def emit(code: str) -> None:
    """Shell code for the integration to evaluate: straight to fd 1, which stays code-only even
    when click's help and messages are pointed at stderr."""
    sys.stdout.flush()
    data = code.encode("utf-8")
    while data:
        data = data[os.write(1, data):]


def valid_namespace(ns: str) -> bool:
    """A DNS-1123 label, what Kubernetes accepts as a namespace name."""
    return (
        0 < len(ns) <= 63
        and set(ns) <= _DNS_CHARS
        and ns[0] != "-"
        and ns[-1] != "-"
    )


def check_namespace(ns: str) -> str:
    if not valid_namespace(ns):
        from kctx.shellcode import visible

        raise FatalError(
            f"invalid namespace {visible(ns)!r}",
            hint="lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63",
        )
    return ns


def _init_hint(command: str) -> FatalError:
    from kctx.shell import dialect_of

    shell = os.path.basename(os.environ.get("SHELL", ""))
    how = dialect_of(shell if shell in SHELLS else "bash").load
    return FatalError(
        f"'kctx {command}' changes this shell's target, which a program cannot do by itself; "
        f"load the shell integration first",
        hint=f"add  {how}, then open a new shell",
    )


class Shell:
    """What the integration's `kctx` function told us about the shell that called it."""

    def __init__(self, command: str) -> None:
        env = os.environ
        self.name = env.get("KCTX_SHELL", "")
        if self.name not in SHELLS:
            raise _init_hint(command)
        try:
            self.pid = int(env.get("KCTX_SHELL_PID", ""))
        except ValueError:
            raise _init_hint(command) from None
        given = env.get("KCTX_SESSION", "")
        # Only a session file of this very shell is rewritten; anything else gets a new file.
        self.session = os.path.abspath(given) if given and session.owned(given, self.pid) else ""
        self.previous = env.get("KCTX_PREVIOUS", "")
        self.previous_ns = env.get("KCTX_PREVIOUS_NS", "")
        self.entry = env.get("KCTX_CONTEXT", "")
        self.namespace = env.get("KCTX_NAMESPACE", "")

    def session_path(self) -> str:
        return self.session or session.new_path(self.pid)


def entry_name(name: str) -> str:
    """The entry `name` means: an entry of that name, else the entry imported from a context of
    that name (`kctx use arn:aws:eks:eu-west-1:123456789012:cluster/prod`). Only a miss pays
    for the second lookup."""
    if session.valid_name(name) and session.entry_record(name) is not None:
        return name
    found = session.entries_by_context(name)
    if len(found) == 1:
        return found[0]
    if found:
        from kctx.shellcode import visible

        raise FatalError(f"{visible(name)!r} is the original context of several entries: {', '.join(found)}",
                         hint=f"kctx use {found[0]}")
    from kctx.names import no_entry

    raise no_entry(name, session.entry_names())


def _record(name: str) -> dict[str, Any]:
    return _usable(name, session.entry_record(name))


def _usable(name: str, rec: dict[str, Any] | None) -> dict[str, Any]:
    """Entry `name`'s record `rec`, or one line saying it is missing or broken."""
    if rec is None:
        from kctx.names import no_entry

        raise no_entry(name, session.entry_names())
    if rec.get("error"):
        raise FatalError(f"entry {name!r} is broken: {rec['error']}", hint=f"kctx show {name}")
    return rec


def _team(cfg: dict[str, Any], name: str, rec: dict[str, Any]) -> dict[str, Any]:
    """`rec` with the tier the team policy gives it (kctx.policy)."""
    from kctx.config import policy_files

    if not policy_files(cfg):
        return rec
    from kctx import policy

    compiled = policy.load(cfg)
    policy.warn(compiled)
    return policy.effective(cfg, name, rec, compiled)


def team_record(cfg: dict[str, Any], name: str, rec: dict[str, Any] | None) -> dict[str, Any]:
    """Entry `name`'s record `rec` (from session.entry_record) with the tier the team policy gives
    it; one line when it is missing or broken."""
    return _team(cfg, name, _usable(name, rec))


def _remember_namespace(ns: str) -> None:
    """Namespaces used, for completion (kctx/cli.py reads data_dir/namespaces)."""
    path = paths.namespaces_file()
    try:
        with open(path, encoding="utf-8") as f:
            if ns in f.read().split():
                return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(fd, (ns + "\n").encode())
        os.close(fd)
    except OSError:
        pass


def _on_use(name: str, rec: dict[str, Any]) -> None:
    """Let the kubectl-versions code refresh the server version in the background."""
    try:
        from kctx.kubectl.choice import on_use

        on_use(name, rec)
    except Exception:  # noqa: BLE001 - a version refresh must never break switching
        return


# -- emitting the state ---------------------------------------------------------------------------
def _target_code(
    sh: Shell, cfg: dict[str, Any], entry: str, rec: dict[str, Any], namespace: str | None,
    path: str, content: str, previous: str, previous_ns: str, unlock_until: int, watched: list[str] | None = None,
    guarded: bool = False,
) -> str:
    from kctx import shellcode as sh_mod

    code = Code(sh.name)
    code.watch(watched or [], paths.tiers_stamp_file(path))
    entry_file = paths.entry_file(entry)
    # A guarded shell reaches its entry through the API guard only: the session file alone.
    kubeconfig = path if guarded else path + os.pathsep + entry_file
    tier = str(rec.get("tier") or "none")
    shown_ns = namespace or "default"
    prompt_shell = sh.name
    code.set("KUBECONFIG", kubeconfig, export=True)
    code.set("KCTX_CONTEXT", entry, export=True)
    code.set("KCTX_NAMESPACE", shown_ns, export=True)
    code.set("KCTX_TIER", tier, export=True)
    code.set("__kctx_session", path)
    code.set("__kctx_pid", sh.pid)
    code.set("__kctx_kubeconfig", kubeconfig)
    code.set("__kctx_content", content)
    code.set("__kctx_entry", entry)
    code.set("__kctx_entry_file", entry_file)
    skew = _skew(entry, rec, prompt_shell)
    code.set("__kctx_seg", sh_mod.segment(cfg, prompt_shell, entry, shown_ns, tier) + skew)
    code.set("__kctx_tmpl", sh_mod.segment(cfg, prompt_shell, entry, NS_SLOT, tier) + skew)
    code.set("__kctx_prev_entry", previous)
    code.set("__kctx_prev_ns", previous_ns)
    code.set("__kctx_unlock_until", unlock_until)
    code.set("__kctx_unlock_ind", sh_mod.unlocked_indicator(cfg, sh.name, unlock_until) if unlock_until else "")
    code.set("__kctx_guard", path + paths.GUARD_STATE if guarded else "")
    code.set("__kctx_guard_ind", sh_mod.guarded_indicator(cfg, sh.name) if guarded else "")
    code.set("__kctx_guard_pid", "")  # the prompt hook reads <session>.guard again
    code.call("__kctx_refresh")
    return code.text()


def _skew(entry: str, rec: dict[str, Any], shell: str) -> str:
    """' ⚠skew' when the kubectl this entry runs is outside the version skew policy (issue 4)."""
    try:
        from kctx.kubectl.choice import skew_marker

        marker = skew_marker(rec, entry)
    except Exception:  # noqa: BLE001 - the prompt never fails because of a marker
        return ""
    if not marker:
        return ""
    from kctx.shellcode import prompt_literal

    return prompt_literal(shell, f" {marker}skew")


def _off_code(sh: Shell, path: str, content: str, previous: str) -> str:
    code = Code(sh.name)
    code.watch([], "")
    code.set("KUBECONFIG", path, export=True)
    for var in ("KCTX_CONTEXT", "KCTX_NAMESPACE", "KCTX_TIER"):
        code.unset(var)
    code.set("__kctx_session", path)
    code.set("__kctx_pid", sh.pid)
    code.set("__kctx_kubeconfig", path)
    code.set("__kctx_content", content)
    code.set("__kctx_entry", "")
    code.set("__kctx_entry_file", "")
    code.set("__kctx_seg", "")
    code.set("__kctx_tmpl", "")
    code.set("__kctx_prev_entry", previous)
    code.set("__kctx_prev_ns", "")
    code.set("__kctx_unlock_until", 0)
    code.set("__kctx_unlock_ind", "")
    code.set("__kctx_guard", "")
    code.set("__kctx_guard_ind", "")
    code.set("__kctx_guard_pid", "")
    code.call("__kctx_refresh")
    return code.text()


def _current_unlock(sh: Shell, path: str, entry: str) -> int:
    state = session.unlock_state(path) if sh.session else None
    return int(state["until"]) if state and state["entry"] == entry else 0


def _newest(files: list[str]) -> int:
    """The latest modification time of `files` (those that exist), in nanoseconds."""
    newest = 0
    for f in files:
        try:
            newest = max(newest, os.stat(f).st_mtime_ns)
        except OSError:
            pass
    return newest


def switch_to(
    sh: Shell, name: str, namespace: str | None, previous: str, previous_ns: str, chosen: bool = False
) -> dict[str, Any]:
    """Write this shell's session for entry `name` and emit the code that points the shell at it.
    chosen: the user chose it (kctx use, kctx ns): what new shells start on under shell.start: last."""
    from kctx import config

    cfg = config.load()
    watched = config.tier_files(cfg)
    seen = _newest(watched)  # before reading what they decide: a change from now on is newer
    rec = _record(name)
    if namespace is None:
        namespace = rec.get("namespace") or None
    path = sh.session_path()
    rec = _team(cfg, name, rec)
    content, guarded = write_session(cfg, path, name, rec, namespace)
    unlock_until = _current_unlock(sh, path, name)
    if not unlock_until and sh.session:
        session.clear_unlock(path)
    try:  # the hook takes this target again when one of the watched files is newer than this
        stamp = paths.tiers_stamp_file(path)
        session.write(stamp, "")
        os.utime(stamp, ns=(seen, seen))
    except OSError:
        watched = []
    emit(_target_code(sh, cfg, name, rec, namespace, path, content, previous, previous_ns, unlock_until, watched,
                      guarded))
    if chosen:
        _remember_target(cfg, name, namespace or "")
    try:
        session.sweep()
    except OSError:
        pass
    return rec


def write_session(cfg: dict[str, Any], path: str, name: str, rec: dict[str, Any],
                  namespace: str | None) -> tuple[str, bool]:
    """Write session `path` for entry `name`: (its content, guarded?).

    A protected entry (kctx.apiguard.policy) gets the API guard: the session file names the
    guard as its only cluster, and the guard is started (without waiting for it) unless this
    session's guard already fronts that entry. Any other entry gets the plain session layered
    over its entry file, and a guard this session had is stopped.
    """
    from kctx.apiguard import policy

    if policy.for_entry(cfg, name, rec) is not None:
        from kctx.apiguard import launch

        return launch.start(path, name, rec, namespace), True
    if os.path.exists(path + paths.GUARD_STATE):
        from kctx.apiguard import launch

        launch.stop(path)
    content = session.render(name, str(rec.get("cluster") or ""), str(rec.get("user") or ""), namespace)
    session.write_session(path, content)
    return content, False


# -- commands ---------------------------------------------------------------------------------------
def use(name: str | None, namespace: str | None = None) -> int:
    """Point this shell at entry `name` ('-': the previous one), optionally in `namespace`."""
    sh = Shell("use")
    if namespace is not None:
        check_namespace(namespace)
    if name is None:
        from kctx.commands.pick import pick

        name = pick()
    if name == "-":
        if not sh.previous:
            raise FatalError("no previous entry in this shell")
        name = sh.previous
    name = entry_name(name)
    previous = sh.previous
    previous_ns = sh.previous_ns
    if sh.entry and sh.entry != name:
        previous, previous_ns = sh.entry, ""
    rec = switch_to(sh, name, namespace, previous, previous_ns, chosen=True)
    if namespace:
        _remember_namespace(namespace)
    _on_use(name, rec)
    return 0


def _active(sh: Shell) -> str:
    if not sh.entry:
        raise FatalError("no entry is active in this shell", hint="kctx use NAME")
    return sh.entry


def current_namespace(sh: Shell | None = None) -> str | None:
    """This shell's namespace: what its session file says, else KCTX_NAMESPACE."""
    path = session.from_kubeconfig()
    if path:
        text = session.read_text(path)
        if text is not None:
            state = session.parse(text)
            if state and state["current-context"] == os.environ.get("KCTX_CONTEXT"):
                return state["namespace"] or "default"
    return os.environ.get("KCTX_NAMESPACE") or None


def ns(namespace: str | None) -> int:
    """Set this shell's namespace ('-': the previous one); without one, print it."""
    if namespace is None:
        current = current_namespace()
        if current is None:
            raise FatalError("no entry is active in this shell", hint="kctx use NAME")
        if os.environ.get("KCTX_SHELL") in SHELLS:
            emit(Code(os.environ["KCTX_SHELL"]).print_line(current).text())
        else:
            sys.stdout.write(current + "\n")
        return 0
    sh = Shell("ns")
    if namespace != "-":
        check_namespace(namespace)
    entry = _active(sh)
    if namespace == "-":
        if not sh.previous_ns:
            raise FatalError("no previous namespace for this entry in this shell")
        namespace = sh.previous_ns
    check_namespace(namespace)
    previous_ns = sh.namespace if sh.namespace and sh.namespace != namespace else sh.previous_ns
    switch_to(sh, entry, namespace, sh.previous, previous_ns, chosen=True)
    _remember_namespace(namespace)
    return 0


def off() -> int:
    """This shell targets nothing: kubectl refuses to run until the next `kctx use`."""
    sh = Shell("off")
    path = sh.session_path()
    if os.path.exists(path + paths.GUARD_STATE):
        from kctx.apiguard import launch

        launch.stop(path)
    content = session.render_off()
    session.write_session(path, content)
    session.clear_unlock(path)
    emit(_off_code(sh, path, content, sh.entry or sh.previous))
    from kctx import config

    _remember_target(config.load(), "", "")
    try:
        session.sweep()
    except OSError:
        pass
    return 0


def _remember_target(cfg: dict[str, Any], entry: str, namespace: str) -> None:
    """Under shell.start: last, what new shells start on: this entry and namespace ('': none).
    Nothing is written otherwise."""
    if cfg["shell"]["start"] != "last":
        return
    try:
        if entry:
            from kctx.fsutil import atomic_write

            atomic_write(paths.last_target_file(), f"{entry}\n{namespace}\n", fsync=False)
        else:
            os.unlink(paths.last_target_file())
    except OSError:
        pass  # a new shell then starts on nothing, as without the setting


def start() -> int:
    """A new shell (it inherited no target) under shell.start: last: the entry and namespace last
    chosen with `kctx use` / `kctx ns` in any shell, unless that entry is protected (then one line
    says so, and the shell targets nothing, as kctx off left it, or what your kubeconfig says)."""
    from kctx import config

    cfg = config.load()
    sh = Shell("_start")
    if cfg["shell"]["start"] != "last" or sh.session or os.environ.get("KCTX_CONTEXT"):
        return 0
    try:
        with open(paths.last_target_file(), encoding="utf-8") as f:
            entry, _, namespace = f.read().partition("\n")
    except (OSError, UnicodeDecodeError):
        return 0
    namespace = namespace.strip()
    rec = session.entry_record(entry) if session.valid_name(entry) else None
    if rec is None or rec.get("error"):
        return 0
    team = _team(cfg, entry, rec)
    if why_protected(cfg, entry, team) is not None:
        info(f"kctx: a new shell does not start on {entry}, the last entry chosen: it is protected "
             f"(kctx use {entry})")
        return 0
    switch_to(sh, entry, namespace if namespace and valid_namespace(namespace) else None, "", "")
    return 0


DIR_FILE = ".kctx"
_DIR_FILE_MAX = 4096


def directory(file: str) -> int:
    """Under shell.directories: true, the prompt hook found `file`, the .kctx file nearest the
    folder the shell just entered (it calls this only when that file differs from the last one
    found, so a `kctx use` inside the folder holds until the shell enters another). The file
    names an entry (or an original context name), alone or as {entry: NAME, namespace: NS}.
    This shell then targets it, as after a `kctx use` (`kctx use -` goes back), unless it is
    protected: a folder never moves a shell onto production; one line says so instead."""
    from kctx import config

    cfg = config.load()
    if not cfg["shell"]["directories"]:
        return 0
    sh = Shell("_dir")
    from kctx.shellcode import visible

    where = visible(paths.shown(file))
    entry, namespace = _read_dir_file(file, where)
    try:
        entry = entry_name(entry)
    except FatalError as e:
        raise FatalError(f"{where}: {e.message}", hint=e.hint) from None
    if sh.entry == entry and (namespace is None or namespace == sh.namespace):
        return 0
    team = _team(cfg, entry, _record(entry))
    why = why_protected(cfg, entry, team)
    if why is not None:
        stays = f"this shell stays on {sh.entry}" if sh.entry else "this shell stays where it was"
        info(f"kctx: {where} names {entry}, which is protected ({why}): {stays} (kctx use {entry})")
        return 0
    previous, previous_ns = (sh.entry, "") if sh.entry and sh.entry != entry else (sh.previous, sh.previous_ns)
    switch_to(sh, entry, namespace, previous, previous_ns)
    shown = namespace or str(team.get("namespace") or "default")
    info(f"kctx: {where}: this shell now targets {entry} ({shown})")
    return 0


def _read_dir_file(file: str, where: str) -> tuple[str, str | None]:
    """(entry, namespace or None) from a .kctx file; a FatalError naming the file when bad."""
    try:
        with open(file, "rb") as f:
            data = f.read(_DIR_FILE_MAX + 1)
    except OSError as e:
        raise FatalError(f"{where}: cannot read it: {e.strerror}") from None
    hint = "write an entry name, or entry: NAME and namespace: NS"
    if len(data) > _DIR_FILE_MAX:
        raise FatalError(f"{where}: larger than {_DIR_FILE_MAX} bytes", hint=hint)
    from kctx import yamlio

    try:
        doc = yamlio.load(data.decode("utf-8"))
    except Exception:  # noqa: BLE001 - UnicodeDecodeError, yaml.YAMLError: one line either way
        raise FatalError(f"{where}: not an entry name nor a YAML mapping", hint=hint) from None
    namespace = None
    if isinstance(doc, dict):
        unknown = sorted(str(k) for k in doc if k not in ("entry", "namespace"))
        if unknown:
            raise FatalError(f"{where}: unknown key {unknown[0]!r}", hint=hint)
        entry, namespace = doc.get("entry"), doc.get("namespace")
        if namespace is not None:
            try:
                if not isinstance(namespace, str):  # namespace: 0123 would be the number 83
                    raise FatalError(f"namespace {namespace!r} is not text", hint="quote it: namespace: '0123'")
                check_namespace(namespace)
            except FatalError as e:
                raise FatalError(f"{where}: {e.message}", hint=e.hint) from None
    else:
        entry = doc
    if not isinstance(entry, str) or not entry.strip():
        raise FatalError(f"{where}: names no entry", hint=hint)
    return entry.strip(), namespace


def adopt() -> int:
    """A shell that inherited a target from its parent takes its own session file, so that
    `kubectl config set-context` in it cannot change the parent's target. In a shell that has its
    own session, the prompt hook calls it when a file that decides the tier in force changed
    (config.tier_files): the same target again, guarded or not as a `kctx use` would make it now."""
    sh = Shell("_adopt")
    entry = os.environ.get("KCTX_CONTEXT", "")
    ns_ = os.environ.get("KCTX_NAMESPACE", "") or None
    if sh.session and entry:
        if session.valid_name(entry) and session.entry_record(entry) is None:
            return 0  # removed or renamed: the prompt says so (⚠ entry removed); a guard stays closed
        state = session.parse(session.read_text(sh.session) or "")
        if state and state["current-context"] == entry:
            ns_ = state["namespace"]  # what kubectl config set-context may have set since
        was_guarded = os.path.exists(sh.session + paths.GUARD_STATE)
        team = switch_to(sh, entry, ns_ if ns_ and valid_namespace(ns_) else None, sh.previous, sh.previous_ns)
        guarded = os.path.exists(sh.session + paths.GUARD_STATE)
        if guarded and not was_guarded:
            from kctx import config

            why = why_protected(config.load(), entry, team) or "protected"
            info(f"kctx: this shell is guarded now ({why}): its clients reach {entry} through the API guard; "
                 f"{WAYS_ON}")
        elif was_guarded and not guarded:
            info(f"kctx: this shell is no longer guarded ({entry} is not protected any more): its clients "
                 f"reach {entry} directly")
        return 0
    rec = session.entry_record(entry) if entry and session.valid_name(entry) else None
    if rec is None or rec.get("error"):
        return off()
    if ns_ is not None and not valid_namespace(ns_):
        ns_ = None
    switch_to(sh, entry, ns_, "", "")
    return 0


def unlock(duration: str) -> int:
    """This shell may write to its protected entry without the guard's question until expiry."""
    import time

    from kctx import config

    sh = Shell("unlock")
    entry = _active(sh)
    cfg = config.load()
    rec = _team(cfg, entry, _record(entry))
    tier = str(rec.get("tier") or "none")
    if not _protected(cfg, entry, rec):
        raise FatalError(f"{entry} is not protected (tier {tier}): there is nothing to unlock")
    try:
        seconds = config.parse_duration(duration)
    except ValueError as e:
        raise FatalError(str(e)) from None
    if seconds <= 0 or seconds > MAX_UNLOCK:
        raise FatalError("an unlock lasts between 1 second and 24 hours", hint="e.g. kctx unlock 15m")
    path = sh.session
    if not path or not os.path.exists(path):
        raise FatalError("this shell has no session", hint=f"kctx use {entry}")
    until = int(time.time()) + seconds
    server = str(rec.get("server") or "")
    session.write_unlock(path, entry, server, until)
    _audit({"outcome": "unlock", "entry": entry, "tier": tier, "server": server,
            "namespace": current_namespace() or "default", "argv": ["kctx", "unlock", duration],
            "detail": f"until {time.strftime('%Y-%m-%dT%H:%M:%S%z', time.localtime(until))}",
            "until": until})
    from kctx import shellcode as sh_mod

    code = Code(sh.name)
    code.set("__kctx_unlock_until", until)
    code.set("__kctx_unlock_ind", sh_mod.unlocked_indicator(cfg, sh.name, until))
    code.call("__kctx_refresh")
    emit(code.text())
    who = ("k will not ask, and every client of this shell may write" if os.path.exists(path + paths.GUARD_STATE)
           else "k will not ask before changes")
    info(f"{entry} unlocked until {time.strftime('%H:%M:%S', time.localtime(until))} in this shell: "
         f"{who} ('kctx lock' ends it)")
    return 0


def _protected(cfg: dict[str, Any], entry: str, rec: dict[str, Any]) -> bool:
    """Whether `k` may ask on entry `rec` (its tier in force, with the team policy applied):
    a protected tier, a namespace rule that protects part of it, or a tier the policy protects."""
    return _may_be_protected(cfg, entry, str(rec.get("tier") or "none")) or bool(rec.get("tier_protected"))


def why_protected(cfg: dict[str, Any], entry: str, rec: dict[str, Any]) -> str | None:
    """Why a shell must not land on entry `rec` (its team record) unasked: protected for `k`
    (`_protected`) or fronted by the API guard (the same cluster as a protected entry, too); None
    when neither."""
    from kctx.apiguard import policy

    guarded = policy.for_entry(cfg, entry, rec)
    if guarded is not None and guarded.everything:
        return guarded.everything
    if not (guarded is not None or _protected(cfg, entry, rec)):
        return None
    from kctx import config

    tier = str(rec.get("tier") or "none")
    if rec.get("tier_protected") or config.is_protected(cfg, tier):
        return f"tier {tier}"
    return "namespace rules protect part of it"


def _may_be_protected(cfg: dict[str, Any], entry: str, tier: str) -> bool:
    from kctx import config

    if config.is_protected(cfg, tier):
        return True
    from kctx.wildcard import match

    return any(
        match(rule.get("entry", "*"), entry) and config.is_protected(cfg, rule["tier"])
        for rule in cfg["guard"].get("namespace_tiers", [])
    )


def lock() -> int:
    """End this shell's unlock now."""
    sh = Shell("lock")
    state = session.unlock_state(sh.session) if sh.session else None
    removed = session.clear_unlock(sh.session) if sh.session else False
    if state:
        _audit({"outcome": "lock", "entry": state["entry"], "server": state["server"],
                "namespace": current_namespace() or "default", "argv": ["kctx", "lock"],
                "detail": "unlock ended early"})
    code = Code(sh.name)
    code.set("__kctx_unlock_until", 0)
    code.set("__kctx_unlock_ind", "")
    code.call("__kctx_refresh")
    emit(code.text())
    info("locked: k asks again before changes, and the API guard refuses them" if (state or removed)
         and sh.session and os.path.exists(sh.session + paths.GUARD_STATE)
         else "locked: k asks again before changes" if state or removed else "this shell was not unlocked")
    return 0


def _audit(record: dict[str, Any]) -> None:
    """One line in the guard's audit log, shaped like k's records; the process is the shell."""
    from kctx import audit

    fields = {k: v for k, v in record.items() if k != "outcome"}
    audit.append(audit.decision(record["outcome"], {**fields, "context": record.get("entry")}, pid=os.getppid()))


# -- reading the state ------------------------------------------------------------------------------
def current_state() -> dict[str, Any] | None:
    """This shell's target as kctx set it, checked against what KUBECONFIG really leads to."""
    env = os.environ
    path = session.from_kubeconfig()
    if not path:
        return None

    parts = env.get("KUBECONFIG", "").split(os.pathsep)
    text = session.read_text(path)
    state = session.parse(text) if text is not None else None
    if not state or not state["current-context"]:
        return None
    entry = state["current-context"]
    guarded = session.guarded_session() == path
    if not guarded and (len(parts) < 2 or os.path.abspath(parts[1]) != os.path.abspath(paths.entry_file(entry))):
        return None
    rec = session.entry_record(entry) if session.valid_name(entry) else None
    if rec is None:
        return None
    from kctx import config

    rec = _team(config.load(), entry, rec)
    return {
        "entry": entry,
        "namespace": state["namespace"] or "default",
        "tier": rec.get("tier") or "none",
        "server": rec.get("server") or "",
        "session": path,
        "kubeconfig": env.get("KUBECONFIG", ""),
        "unlocked_until": (session.unlock_state(path) or {}).get("until"),
        "guard": _guard_status(path) if guarded else None,
    }


def _guard_status(path: str) -> dict[str, Any]:
    """The API guard of a guarded session: up (restarted if it was down), or why it is down."""
    from kctx.apiguard import launch
    from kctx.apiguard import state as guard_state

    status = launch.status(path)
    st = guard_state.read_state(path) or {}
    return {"status": status.split(":", 1)[0], "detail": status.partition(": ")[2] or None,
            "port": st.get("port"), "pid": st.get("pid")}


def current(output: str = "text") -> int:
    """The active entry (exit 1 when none); -o json adds namespace, tier, server, session."""
    state = current_state()
    if state is None:
        if output == "json":
            sys.stdout.write("null\n")
        if os.environ.get("KCTX_CONTEXT"):
            info("kctx: no entry active: KUBECONFIG no longer leads to this shell's session")
        else:
            info("kctx: no entry active in this shell")
        return 1
    from kctx import render

    render.show(output, state, _current_text)
    return 0


def _current_text(state: dict[str, Any]) -> str:
    """The entry's name; on stderr, whether the shell's API guard is active, down or restarted."""
    guard = state["guard"]
    if guard and guard["status"] == "down":
        info(f"kctx: the API guard of this shell is down ({guard['detail']}): its clients get errors")
    elif guard and guard["status"] == "restarted":
        info("kctx: the API guard of this shell was down: restarted")
    elif guard:
        info(f"kctx: the API guard of this shell is active (127.0.0.1:{guard['port']}): {WAYS_ON}")
    return state["entry"] + "\n"


def prompt(plain: bool = False) -> int:
    """Print the prompt segment once (tmux, starship): empty when nothing is active."""
    from kctx import config
    from kctx import shellcode as sh_mod

    state = current_state()
    if state is None:
        if os.environ.get("KCTX_CONTEXT"):
            cfg = config.load()
            before, after = sh_mod.warning_parts(cfg, "plain" if plain else "ansi")
            sys.stdout.write(f"{before}KUBECONFIG changed{after}\n")
        return 0
    cfg = config.load()
    rec = session.entry_record(state["entry"]) or {}
    seg = sh_mod.segment(cfg, "plain" if plain else "ansi", state["entry"], state["namespace"], state["tier"])
    seg += _skew(state["entry"], rec, "plain")
    if state["unlocked_until"]:
        seg += sh_mod.unlocked_indicator(cfg, "ansi", state["unlocked_until"])
    guard = state["guard"]
    if guard and guard["status"] == "down":
        before, after = sh_mod.warning_parts(cfg, "plain" if plain else "ansi")
        seg += f" {before}guard down{after}"
    elif guard:
        seg += sh_mod.guarded_indicator(cfg, "plain")
    sys.stdout.write(seg + "\n")
    return 0


# -- exec -------------------------------------------------------------------------------------------
WILDCARDS = ("*", "?", "[")  # no entry name holds one (kctx.names.valid_name)


def exec_(name: str, namespace: str | None, argv: list[str], fail_fast: bool = False, jobs: int = 1) -> int:
    """Run argv with KUBECONFIG and KCTX_* set for entry `name`, without switching this shell.

    A `name` with a wildcard runs argv once per matching entry, in name order, each under its
    own session (a protected one behind its own API guard): one after the other with a
    `==> entry <==` line on stderr before each, or `jobs` at a time with each line of their
    output after its entry's name (those runs have no terminal: what `k` would ask there it
    refuses). Piped stdin is read once and given to every run. The exit code is 0 when every
    run succeeded, else the first failure's in name order; Ctrl-C ends the runs and the rest."""
    if not argv:
        raise FatalError("no command given", hint=f"kctx exec {name} -- kubectl get pods")
    if namespace is not None:
        check_namespace(namespace)
    if jobs < 1:
        raise FatalError("--parallel takes a number of runs at once, 1 or more")
    if not any(c in name for c in WILDCARDS):
        with _CtrlC() as ctrl_c:
            rc = _exec_one(entry_name(name), namespace, argv, None, ctrl_c)
        return 130 if rc is None else rc
    from kctx.wildcard import match

    names = [n for n in session.entry_names() if match(name, n)]
    if not names:
        raise FatalError(f"no entry matches {name!r}", hint="'kctx list' shows the entries")
    data = None
    if len(names) > 1 and sys.stdin is not None and not sys.stdin.isatty():
        data = sys.stdin.buffer.read()
    if jobs > 1 and len(names) > 1:
        codes = _exec_parallel(names, namespace, argv, data, jobs, fail_fast)
    else:
        codes = {}
        with _CtrlC() as ctrl_c:
            for entry in names:
                sys.stdout.flush()
                info(f"==> {entry} <==")
                rc = _exec_one(entry, namespace, argv, data, ctrl_c)
                if rc is not None:
                    codes[entry] = rc
                if ctrl_c.seen or (rc and fail_fast):
                    break
    failed = [(entry, codes[entry]) for entry in names if codes.get(entry)]
    skipped = [entry for entry in names if entry not in codes]
    if skipped:
        why = f"after {failed[0][0]} (exit {failed[0][1]})" if failed else "by Ctrl-C"
        info(f"kctx exec: stopped {why}; {len(skipped)} not run: " + ", ".join(skipped))
        if not failed:
            return 130
    if failed:
        info(f"kctx exec: {len(failed)} of {len(names)} failed: "
             + ", ".join(f"{entry} (exit {rc})" for entry, rc in failed))
        return failed[0][1]
    return 0


def _exec_env(name: str, namespace: str | None) -> tuple[dict[str, str], str, bool]:
    """The environment of a run against entry `name`: its session file written (and its API
    guard started when protected), the session's path, and whether it is guarded."""
    from kctx import config

    cfg = config.load()
    rec = _team(cfg, name, _record(name))
    if namespace is None:
        namespace = rec.get("namespace") or None
    path = session.new_path(os.getpid())
    _, guarded = write_session(cfg, path, name, rec, namespace)
    env = {k: v for k, v in os.environ.items() if k not in ("KCTX_SHELL", "KCTX_SHELL_PID", "KCTX_SESSION",
                                                             "KCTX_PREVIOUS", "KCTX_PREVIOUS_NS")}
    env.update(KUBECONFIG=path if guarded else path + os.pathsep + paths.entry_file(name), KCTX_CONTEXT=name,
               KCTX_NAMESPACE=namespace or "default", KCTX_TIER=str(rec.get("tier") or "none"))
    return env, path, guarded


def _exec_done(path: str, guarded: bool) -> None:
    if guarded:
        from kctx.apiguard import launch

        launch.stop(path)
    session.remove(path)


def _spawn(argv: list[str], env: dict[str, str], **kw: Any) -> Any:
    import subprocess

    try:
        return subprocess.Popen(argv, env=env, **kw)
    except FileNotFoundError:
        raise FatalError(f"{argv[0]}: command not found", code=127) from None
    except PermissionError:
        raise FatalError(f"{argv[0]}: permission denied", code=126) from None


class _CtrlC:
    """Ctrl-C while runs go one at a time: the command running gets it from the terminal (it is
    in the same process group) and decides; kctx notes it, lets the command end, and starts no
    further run. Noted, not raised: an exception between a run's start and its wait (Popen
    returns after the command has started) would leave the run unreported and its session
    behind."""

    seen = False

    def __enter__(self) -> Self:
        import signal

        def note(_signum: int, _frame: Any) -> None:
            self.seen = True

        self._before = signal.signal(signal.SIGINT, note)  # the command's own exec resets it
        return self

    def __exit__(self, *_exc: object) -> None:
        import signal

        signal.signal(signal.SIGINT, self._before)


def _exec_one(name: str, namespace: str | None, argv: list[str], data: bytes | None, ctrl_c: _CtrlC) -> int | None:
    """The exit code of argv run against entry `name`; None when Ctrl-C came before it started."""
    import subprocess

    env, path, guarded = _exec_env(name, namespace)
    try:
        if ctrl_c.seen:
            return None
        proc = _spawn(argv, env, stdin=None if data is None else subprocess.PIPE)
        if data is not None:
            try:
                proc.stdin.write(data)
                proc.stdin.close()
            except BrokenPipeError:
                pass  # a command that reads no stdin, or stopped reading
        rc = proc.wait()
    finally:
        _exec_done(path, guarded)
    return int(128 - rc if rc < 0 else rc)


def _exec_parallel(names: list[str], namespace: str | None, argv: list[str], data: bytes | None, jobs: int,
                   fail_fast: bool) -> dict[str, int]:
    """`jobs` runs at a time, each in a session (and process group) of its own with no terminal,
    its output lines written whole after `entry | `. Returns the exit code of each run started."""
    import signal
    import subprocess
    import threading
    from concurrent.futures import ThreadPoolExecutor

    width = max(map(len, names))
    lock = threading.Lock()  # one output line at a time
    starting = threading.Lock()  # one run started at a time, or Ctrl-C passed on
    stop = threading.Event()
    running: dict[str, Any] = {}
    codes: dict[str, int] = {}

    def pump(stream: Any, out: Any, prefix: bytes) -> None:
        for line in iter(stream.readline, b""):
            with lock:
                out.write(prefix + line + (b"" if line.endswith(b"\n") else b"\n"))
                out.flush()

    def run(entry: str) -> None:
        if stop.is_set():
            return
        prefix = f"{entry:<{width}} | ".encode()
        try:
            run_in(entry, prefix)
        except Exception as e:  # noqa: BLE001 - one run's failure is reported as that run's
            with lock:
                sys.stderr.buffer.write(prefix + f"kctx: {type(e).__name__}: {e}\n".encode())
            codes[entry] = 1

    def run_in(entry: str, prefix: bytes) -> None:
        try:
            env, path, guarded = _exec_env(entry, namespace)
        except FatalError as e:
            with lock:
                sys.stderr.buffer.write(prefix + f"kctx: {e}\n".encode())
            codes[entry] = e.code
            return
        try:
            with starting:  # Ctrl-C either finds the run here or keeps it from starting
                if stop.is_set():
                    return
                try:
                    proc = _spawn(argv, env, stdin=subprocess.DEVNULL if data is None else subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
                except FatalError as e:
                    with lock:
                        sys.stderr.buffer.write(prefix + f"kctx: {e}\n".encode())
                    codes[entry] = e.code
                    return
                running[entry] = proc
            pumps = [threading.Thread(target=pump, args=(proc.stdout, sys.stdout.buffer, prefix)),
                     threading.Thread(target=pump, args=(proc.stderr, sys.stderr.buffer, prefix))]
            for t in pumps:
                t.start()
            if data is not None:
                try:
                    proc.stdin.write(data)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            rc = proc.wait()
            for t in pumps:
                t.join()
            codes[entry] = 128 - rc if rc < 0 else rc
            if codes[entry] and fail_fast:
                stop.set()
        finally:
            running.pop(entry, None)
            _exec_done(path, guarded)

    def interrupt() -> None:
        with starting:
            stop.set()  # the runs have no terminal of their own: Ctrl-C is passed on
            for proc in list(running.values()):
                try:
                    os.killpg(proc.pid, signal.SIGINT)
                except OSError:
                    pass

    sys.stdout.flush()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures: list[Any] = []
        try:
            futures = [pool.submit(run, entry) for entry in names]
        except KeyboardInterrupt:
            interrupt()
        while futures:
            try:
                futures = [f for f in futures if not f.done()]
                if futures:
                    futures[0].exception(timeout=0.2)
            except TimeoutError:
                continue
            except KeyboardInterrupt:
                interrupt()
    return codes
