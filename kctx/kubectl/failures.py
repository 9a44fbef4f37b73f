"""Failed downloads, remembered per kubectl version, so an offline machine tries once per back-off.

A failure waits `backoff(n)` before the next automatic attempt: 5 minutes after the first,
doubling to at most 6 hours (the server-version probe backs off the same way, per server).
`k` and background fetches respect it; `kctx kubectl install`, `which` and `doctor` ignore it
and try now. One small marshal file, {version: (failed at, failures, error)}, written under
the versions lock; read only when a wanted kubectl is not installed.
"""

from __future__ import annotations

import time

from kctx import paths
from kctx.fsutil import read_marshal

FIRST = 300.0  # seconds after the first failure
LONGEST = 6 * 3600.0


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` failures in a row (0: none)."""
    if failures <= 0:
        return 0.0
    return min(FIRST * 2 ** min(failures - 1, 16), LONGEST)


def load() -> dict[str, tuple[float, int, str]]:

    try:
        data = read_marshal(paths.kubectl_failures_file())
        return data if isinstance(data, dict) else {}
    except (OSError, EOFError, ValueError, TypeError):
        return {}


def last(version: str) -> tuple[float, int, str] | None:
    """(failed at, failures in a row, error) of the last download of `version`, None when it did not fail."""
    rec = load().get(version)
    return rec if isinstance(rec, tuple) and len(rec) == 3 else None


def waiting(version: str, now: float | None = None) -> tuple[float, str] | None:
    """(seconds left, error) while `version` is backing off, else None: it may be tried."""
    rec = last(version)
    if rec is None:
        return None
    left = rec[0] + backoff(rec[1]) - (now or time.time())
    return (left, rec[2]) if left > 0 else None


def _update(version: str, rec: tuple[float, int, str] | None) -> None:
    import marshal

    from kctx.fsutil import atomic_write, ensure_dir, file_lock

    ensure_dir(paths.cache_dir())
    with file_lock(paths.versions_lock_file()):
        data = load()
        if rec is None:
            if version not in data:
                return
            data.pop(version)
        else:
            data[version] = rec
        atomic_write(paths.kubectl_failures_file(), marshal.dumps(data), fsync=False)


def record(version: str, error: str) -> None:
    """Remember that downloading `version` failed just now; never raises."""
    try:
        prev = last(version)
        _update(version, (time.time(), (prev[1] if prev else 0) + 1, error))
    except OSError:
        pass


def clear(version: str) -> None:
    """`version` downloaded fine: forget its failures; never raises."""
    try:
        _update(version, None)
    except OSError:
        pass


def age(seconds: float) -> str:
    """'5m', '2h', '40s': a duration for people."""
    s = max(0, int(seconds))
    for unit, n in (("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit}"
    return f"{s}s"
