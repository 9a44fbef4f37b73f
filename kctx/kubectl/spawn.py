"""Starting kctx's background work (a version probe, a kubectl download) without waiting for it.

At most one job per marker file at a time; errors are swallowed: this runs inside `k` and
`kctx use`, which must not get slower or fail because of it. posix_spawn: no `subprocess`
import on the hot path; setsid detaches the job from the terminal, so Ctrl-C in the shell or
the end of `k` does not touch it.
"""

import os
import sys

from kctx import paths

STALE = 60.0  # a marker older than this belongs to a job that died


def probe_marker(name: str) -> str:
    return paths.probe_marker(name)


def fetch_marker(version: str) -> str:
    return paths.fetch_marker(version)


def start(marker: str, args: list[str], stale: float = STALE) -> bool:
    """Run `python -m kctx.kubectl.background ARGS` detached unless `marker` says one runs."""
    import time

    try:
        try:
            st = os.stat(marker)
            if time.time() - st.st_mtime < stale:
                return False  # one is running (or died less than `stale` seconds ago)
            os.unlink(marker)
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(marker), mode=0o700, exist_ok=True)
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        env = dict(os.environ, KCTX_IN_K="1")
        env.pop("KCTX_KUBECTL", None)
        devnull = os.devnull
        os.posix_spawn(
            sys.executable, [sys.executable, "-m", "kctx.kubectl.background", *args], env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, devnull, os.O_WRONLY, 0),
            ],
            setsid=True,
        )
        return True
    except Exception:  # noqa: BLE001 - a job that cannot start is retried next time
        try:
            os.unlink(marker)
        except OSError:
            pass
        return False
