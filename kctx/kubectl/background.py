"""`python -m kctx.kubectl.background probe NAME | fetch VERSION`: kctx's work that nobody waits for.

probe: refresh one entry's server version (kctx.kubectl.probe). fetch: download and verify one
kubectl release for next time (kctx.kubectl.download; a failure is remembered with its
back-off). Started detached by kctx.kubectl.spawn; nobody reads the output: the caches say
what happened.
"""

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("probe", "fetch"):
        return 2
    kind, arg = argv
    from kctx.kubectl import spawn

    marker = spawn.probe_marker(arg) if kind == "probe" else spawn.fetch_marker(arg)
    try:
        if kind == "probe":
            from kctx import paths, store

            if not store.valid_name(arg):
                return 2
            from kctx.kubectl import probe

            if os.path.exists(paths.entry_file(arg)):
                probe.probe(arg, warn=lambda message: None)
            return 0
        from kctx.kubectl import download

        download.ensure(arg, progress=False)
        return 0
    except Exception:  # noqa: BLE001 - nobody reads this process's output; the caches say what failed
        return 1
    finally:
        try:
            os.unlink(marker)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
