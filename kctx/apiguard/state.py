"""The files of a guarded session, and whether its guard is up: read by `k`, `kctx` and the prompt.

Beside the session file `<s>` (all 0600 in the 0700 sessions folder):
  <s>.token   the per-session secret the guard asks for (the session kubeconfig's tokenFile)
  <s>.guard   one line "PID START PORT ENTRY": the guard process, its start time (/proc), the
              loopback port, the entry; the prompt hook reads the PID with the `read` builtin
  <s>.direct  the session as an unguarded shell has it (context and namespace only), which `k`
              layers over the entry file to reach the server itself after asking
The guard's kubectl proxy listens on a unix socket in <runtime>/guard (0700).

Light on purpose: `k` imports this on every command run through Python.
"""

import os

from kctx import paths, session

TYPE_CHECKING = False  # no typing (nor __future__) at run time: `k` imports this
if TYPE_CHECKING:
    from typing import Any
else:
    Any = object


def token_path(s: str) -> str:
    return s + paths.GUARD_TOKEN


def state_path(s: str) -> str:
    return s + paths.GUARD_STATE


def direct_path(s: str) -> str:
    return s + paths.DIRECT


def guard_dir() -> str:
    return os.path.join(paths.runtime_dir(), "guard")


def ensure_guard_dir() -> str:
    folder = guard_dir()
    for path in (paths.runtime_dir(), folder):
        try:
            os.makedirs(path, mode=0o700)
        except FileExistsError:
            pass
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o700)
    return folder


def read_state(s: str) -> dict[str, Any] | None:
    """{"pid", "start", "port", "entry"} of the guard of session `s`, or None."""
    try:
        with open(state_path(s), encoding="utf-8") as f:
            words = f.readline().split()
    except OSError:
        return None
    if len(words) != 4 or not words[0].isdigit() or not words[2].isdigit():
        return None
    return {"pid": int(words[0]), "start": words[1], "port": int(words[2]), "entry": words[3]}


def start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "-" where unknown.

    With it a recycled process id is not taken for the guard."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return "-"
    fields = data[data.rfind(b")") + 2:].split()
    return fields[19].decode() if len(fields) > 19 else "-"


def alive(state: dict[str, Any] | None) -> bool:
    if not state:
        return False
    pid = state["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours: not our guard
    if state["start"] != "-" and os.path.isdir("/proc/self"):
        return start_time(pid) == state["start"]
    return True


def parse(text: str) -> dict[str, Any] | None:
    """session.parse, without the json module (and its `re`) for the JSON kctx writes."""
    if text.lstrip().startswith("{"):
        from kctx import minijson

        try:
            doc = minijson.loads(text)
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        cc = doc.get("current-context")
        cc = cc if isinstance(cc, str) else ""
        out: dict[str, Any] = {"current-context": cc, "namespace": None, "cluster": None, "user": None}
        for item in doc.get("contexts") or []:
            if isinstance(item, dict) and item.get("name") == cc and isinstance(item.get("context"), dict):
                for key in ("namespace", "cluster", "user"):
                    value = item["context"].get(key)
                    out[key] = value if isinstance(value, str) else None
                break
        return out
    return session.parse(text)
