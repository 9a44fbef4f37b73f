"""The audit log of the guard: one JSON line per decision on a protected target.

Appended with O_APPEND under an flock, so lines from concurrent `k` never interleave; the file
is 0600 in the 0700 data folder. Written by `k` without the json module (see minijson).
A record's "outcome" is one of k's decisions (confirmed, aborted, interrupted, refused,
confirmed-by-env, unlocked; `kctx confirm` makes the same, its argv starting "kctx", "confirm"),
kctx unlock / lock (unlock, lock), or the API guard's
(api-refused, api-unlocked: kctx/apiguard/server.py; those carry method, path, user_agent and
session instead of argv).
"""

from __future__ import annotations

import os

from kctx import paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any



def timestamp(now: float | None = None) -> str:
    """Local time with its UTC offset, as every record's "time" is written."""
    import time

    now = time.time() if now is None else now
    offset = time.strftime("%z", time.localtime(now))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f"{offset[:3]}:{offset[3:]}"


def decision(outcome: str, fields: dict[str, Any], tty: int | None = None, pid: int | None = None) -> dict[str, Any]:
    """The record of a decision made on the command line (`k`, `kctx confirm`, `kctx unlock`,
    `kctx lock`): its time and outcome, `fields`, then the terminal (`tty`: the descriptor the
    question was asked on), the working folder, the process (`pid`, else this one) and the user."""
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    return {"time": timestamp(), "outcome": outcome, **fields, "tty": _tty_name(tty), "cwd": cwd,
            "pid": os.getpid() if pid is None else pid, "user": user()}


def user() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())


def _tty_name(tty: int | None) -> str | None:
    for fd in (0, 1, 2):
        try:
            return os.ttyname(fd)
        except OSError:
            continue
    return "/dev/tty" if tty is not None else None


def append(record: dict[str, Any]) -> None:
    """Add one record (a flat mapping of JSON values) as a line of the audit log."""
    import fcntl

    from kctx.minijson import dumps

    path = paths.audit_file()
    # fsutil.ensure_dir's module imports contextlib: too slow for `k`, and this is all it does.
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    line = (dumps(record) + "\n").encode("utf-8", "surrogateescape")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)  # releases the lock


def read() -> list[dict[str, Any]]:
    """Every record, oldest first; lines that are not JSON objects are skipped."""
    import json

    try:
        with open(paths.audit_file(), encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out
