"""Per-shell session files: a tiny kubeconfig that layers this shell's context over an entry file.

A session file is `<sessions_dir>/<shell pid>-<random>.json`, a kubeconfig written as JSON that
holds only `current-context` and one context (cluster, user, namespace): never a credential.
The shell's KUBECONFIG is `<session file>:<entry file>`, so kubectl takes the context from the
session and cluster and user from the entry file, `kubectl config set-context --current
--namespace=x` writes into the session file and refreshed tokens go back to the entry file.

`<session file>.unlock` (JSON {"entry", "server", "until"}) lifts the guard's question for this
shell until `until`; `unlock_state` is what `k` reads.

This module is on the hot path of `kctx use` and `k`: it imports neither json nor re.
"""

from __future__ import annotations

import os
import time

from kctx import index, minijson, paths
from kctx.fsutil import atomic_write, ensure_dir
from kctx.names import valid_name  # the one entry-name rule (kctx.names imports only os)

OFF_CONTEXT = "kctx-off (this shell targets nothing: kctx use NAME)"
SWEEP_EVERY = 600  # seconds between sweeps of session files whose shell is gone
_HEX = set("0123456789abcdef")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def _undirect(path: str) -> str:
    """A guarded shell's KUBECONFIG is its session file alone (kctx.apiguard); `k` reaches the
    entry directly through "<session>.direct" (context only, like an unguarded session) + the
    entry file. That layer stands for its session."""
    return path.removesuffix(paths.DIRECT)


def new_path(shell_pid: int) -> str:
    return os.path.join(paths.sessions_dir(), f"{shell_pid}-{os.urandom(6).hex()}.json")


def pid_of(path: str) -> int | None:
    """The shell pid a session file belongs to, when `path` is a well-formed session file name."""
    name = os.path.basename(path)
    if not name.endswith(".json"):
        return None
    pid, sep, rand = name[:-5].partition("-")
    if not sep or not pid.isdigit() or not rand or not set(rand) <= _HEX:
        return None
    return int(pid)


def is_session(path: str) -> bool:
    """True for a session file name inside kctx's sessions folder (whether or not it exists),
    or the direct layer `k` uses beside a guarded one."""
    path = _undirect(path)
    return (
        bool(path)
        and os.path.dirname(os.path.abspath(path)) == os.path.abspath(paths.sessions_dir())
        and pid_of(path) is not None
    )


def owned(path: str, shell_pid: int) -> bool:
    """`path` is a session file of the shell `shell_pid` (so kctx may rewrite it)."""
    return is_session(path) and pid_of(path) == shell_pid


def active_entry() -> str | None:
    """This shell's entry, as set by `kctx use` (KCTX_CONTEXT, when KUBECONFIG still leads there:
    to the entry file behind the session, or to the guarded session alone)."""
    name = os.environ.get("KCTX_CONTEXT")
    if not name:
        return None
    if paths.entry_file(name) not in os.environ.get("KUBECONFIG", "").split(os.pathsep) and not guarded_session():
        return None
    return name


def guarded_session(value: str | None = None) -> str | None:
    """The session file when KUBECONFIG is a guarded session alone (a guarded kctx shell)."""
    if value is None:
        value = os.environ.get("KUBECONFIG", "")
    if not value or os.pathsep in value or value.endswith(paths.DIRECT) or not is_session(value):
        return None
    s = os.path.abspath(value)
    return s if os.path.exists(s + paths.GUARD_STATE) else None


def from_kubeconfig(value: str | None = None) -> str | None:
    """The session file KUBECONFIG leads with (how `k` finds the session), else None."""
    if value is None:
        value = os.environ.get("KUBECONFIG", "")
    first = _undirect(value.split(os.pathsep, 1)[0])
    return os.path.abspath(first) if first and is_session(first) else None


# -- content ------------------------------------------------------------------------------------
def render(entry: str, cluster: str, user: str, namespace: str | None) -> str:
    """The session kubeconfig for `entry` (no trailing newline: the shell compares it whole)."""
    ctx = {"cluster": cluster}
    if user:
        ctx["user"] = user
    if namespace:
        ctx["namespace"] = namespace
    return minijson.dumps({"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": entry,
                           "contexts": [{"name": entry, "context": ctx}]}, compact=True)


def render_guarded(entry: str, cluster: str, user: str, namespace: str | None, server: str, ca_file: str,
                   token_file: str) -> str:
    """The session kubeconfig of a shell whose entry the API guard fronts: its only cluster is
    the guard on loopback, its only credential the guard's per-session secret (a file beside
    the session: not a cluster credential, and rotated when the guard restarts)."""
    cluster = cluster or "kctx-guard"
    user = user or "kctx-guard"
    ctx = {"cluster": cluster, "user": user}
    if namespace:
        ctx["namespace"] = namespace
    return minijson.dumps({
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": entry,
        "contexts": [{"name": entry, "context": ctx}],
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority": ca_file}}],
        "users": [{"name": user, "user": {"tokenFile": token_file}}],
    }, compact=True)


def render_off() -> str:
    """A kubeconfig whose current context does not exist: kubectl refuses to run, and says why.

    Safer than falling back to ~/.kube/config, which could target anything.
    """
    return minijson.dumps({"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": OFF_CONTEXT,
                           "contexts": []}, compact=True)


def write(path: str, text: str | bytes) -> None:
    """Write a session file atomically, 0600, in its 0700 folder (no fsync: it is per-shell state)."""
    ensure_dir(paths.runtime_dir())
    atomic_write(path, text, fsync=False)


def write_session(path: str, content: str) -> None:
    """Write session file `path` and its stamp <path>.written, dated one nanosecond after it.

    While the session file is older than its stamp, it holds what kctx wrote: the prompt hook
    (bash, zsh, fish) then compares two dates instead of reading the file. Another program's write
    (kubectl config set-context) dates the session file after the stamp, so the hook reads it
    again, unless it comes within the same tick of the file system's clock as kctx's own write,
    which no program started after kctx can. Where dates are coarser than a nanosecond the stamp
    gets the session file's date, never older than the stamp, and the hook always reads the file.
    The old stamp goes first: a kctx stopped half-way leaves none, never a stale one."""
    stamp = paths.session_written_file(path)
    try:
        os.unlink(stamp)
    except FileNotFoundError:
        pass
    write(path, content)
    try:
        when = os.stat(path).st_mtime_ns + 1
        write(stamp, "")
        os.utime(stamp, ns=(when, when))
    except OSError:
        try:
            os.unlink(stamp)
        except OSError:
            pass


def remove(path: str) -> None:
    """Remove a session file and the files kept beside it (paths.SESSION_SIBLINGS, and
    temporary files)."""
    folder, base = os.path.split(path)
    try:
        names = [n for n in os.listdir(folder) if n == base or n.startswith(base + ".")]
    except OSError:
        names = [base]
    for name in names:
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def parse(text: str) -> dict[str, Any] | None:
    """current-context, and cluster/user/namespace of that context, from a session file.

    kctx writes JSON; after `kubectl config set-context` it is kubectl's YAML. YAML is a
    superset of JSON, so both go through one loader.
    """
    try:
        doc = minijson.loads(text)
    except ValueError:
        try:
            from kctx.kubeconfig import yaml_load

            doc = yaml_load(text, "session")
        except Exception:  # noqa: BLE001 - a damaged session is reported as unknown, not a crash
            return None
    if not isinstance(doc, dict):
        return None
    cc = doc.get("current-context")
    out: dict[str, Any] = {"current-context": cc if isinstance(cc, str) else "", "namespace": None,
                           "cluster": None, "user": None, "contexts": 0}
    contexts = doc.get("contexts") or []
    if isinstance(contexts, list):
        out["contexts"] = len(contexts)
        for item in contexts:
            if isinstance(item, dict) and item.get("name") == cc and isinstance(item.get("context"), dict):
                ctx = item["context"]
                for key in ("namespace", "cluster", "user"):
                    if isinstance(ctx.get(key), str):
                        out[key] = ctx[key]
                break
    return out


# -- entries, read fast -------------------------------------------------------------------------
def entry_record(name: str) -> dict[str, Any] | None:
    """An entry's index record (kctx.index.RECORD_KEYS), or None when there is no such entry.

    Fast (kctx.index); when the index cannot answer, the store re-derives the record.
    """
    if not valid_name(name):
        return None
    try:
        return index.record(name)
    except index.Stale:
        from kctx import store

        return store.hot_entry(name)


def entries_by_context(context: str) -> list[str]:
    """The entries whose original context name (in the file they came from) is `context`."""
    try:
        return index.by_context(context)
    except index.Stale:
        from kctx import store

        return sorted(n for n, rec in store.load_hot_index().items() if rec.get("context") == context)


def entries_with_tier(keep: Callable[[str], bool]) -> list[str]:
    """The entries whose stored tier ('' when none) passes `keep` (the API guard's protected servers)."""
    try:
        return index.with_tier(keep)
    except index.Stale:
        from kctx import store

        return [n for n, rec in sorted(store.load_hot_index().items()) if keep(str(rec.get("tier") or ""))]


def completion_columns(in_force: bool = False) -> tuple[list[str], list[str], list[str]]:
    """Entry names, their tiers and their namespaces ('' when none), for completion: fast, never
    raises. in_force: the tiers in force (the team policy applied), for what completion shows."""
    try:
        try:
            names, tiers, namespaces = index.columns()
        except index.Stale:
            from kctx import store

            records = store.load_hot_index()
            names = sorted(records)
            tiers = [str(records[n].get("tier") or "") for n in names]
            namespaces = [ns if isinstance(ns := records[n].get("namespace"), str) and ns.isprintable() else ""
                          for n in names]
    except Exception:  # noqa: BLE001 - a completion never prints a traceback
        return [], [], []
    if in_force and names:
        try:
            from kctx import config, policy

            cfg = config.load()
            compiled = policy.load(cfg)
            if compiled.rules:
                from kctx import store

                applied = policy.apply(cfg, store.load_hot_index(), compiled)
                tiers = [str(applied[n].get("tier") or "") if n in applied else t for n, t in zip(names, tiers)]
        except Exception:  # noqa: BLE001, S110 - the personal tiers, rather than no completion
            pass
    return names, tiers, namespaces


def entry_names() -> list[str]:
    return completion_columns()[0]


def used_namespaces() -> list[str]:
    """The entries' namespaces and those `kctx ns` recorded, for completion."""
    seen = {ns or "default" for ns in completion_columns()[2]}
    try:
        with open(paths.namespaces_file(), encoding="utf-8") as f:
            seen.update(line.strip() for line in f if line.strip())
    except OSError:
        pass
    return sorted(seen)


# -- sweeping -----------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def sweep(force: bool = False) -> list[str]:
    """Remove session files whose shell is gone; at most every SWEEP_EVERY seconds unless forced."""
    folder = paths.sessions_dir()
    stamp = paths.sweep_stamp_file()
    now = time.time()
    if not force:
        try:
            if now - os.stat(stamp).st_mtime < SWEEP_EVERY:
                return []
        except FileNotFoundError:
            pass
        except OSError:
            return []
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(folder, name)
        # <pid>-<random>.json, and files beside it: .unlock, the guard's .k, temporary files.
        cut = name.find(".json")
        base = name[: cut + 5] if cut >= 0 else name
        if name.endswith(".tmp"):
            # A write that died half-way: old temp files only.
            try:
                if now - os.stat(path).st_mtime > SWEEP_EVERY:
                    os.unlink(path)
                    removed.append(path)
            except OSError:
                pass
            continue
        pid = pid_of(base)
        if pid is not None and not _alive(pid):
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    try:
        os.close(os.open(stamp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    except OSError:
        pass
    return removed


# -- unlock -------------------------------------------------------------------------------------
def write_unlock(session_path: str, entry: str, server: str, until: int) -> None:
    text = minijson.dumps({"entry": entry, "server": server, "until": int(until)}, compact=True) + "\n"
    write(paths.session_unlock_file(session_path), text)


def clear_unlock(session_path: str) -> bool:
    try:
        os.unlink(paths.session_unlock_file(session_path))
        return True
    except OSError:
        return False


def unlock_state(session_path: str | None) -> dict[str, Any] | None:
    """{"entry", "server", "until"} while this session is unlocked, else None (for `k`).

    Only a file of ours (owner, mode 0600) that has not expired counts; `k` must still check
    that entry and server are those of its target.
    """
    if not session_path:
        return None
    path = paths.session_unlock_file(session_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            return None
        text = os.read(fd, 65536).decode("utf-8", "replace")
    finally:
        os.close(fd)
    try:
        state = minijson.loads(text)
    except ValueError:
        return None
    if not isinstance(state, dict) or not isinstance(state.get("entry"), str) or not isinstance(state.get("server"), str):
        return None
    until = state.get("until")
    if not isinstance(until, (int, float)) or until <= time.time():
        return None
    return {"entry": state["entry"], "server": state["server"], "until": until}
