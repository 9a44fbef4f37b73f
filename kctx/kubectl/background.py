"""`python -m kctx.kubectl.background NAME`: refresh one entry's server version; started detached by kctx."""

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        return 2
    name = argv[0]
    from kctx import paths, store

    if not store.valid_name(name):
        return 2

    try:
        from kctx.kubectl import probe

        if os.path.exists(paths.entry_file(name)):
            probe.probe(name, warn=lambda message: None)
        return 0
    except Exception:  # noqa: BLE001 - nobody reads this process's output; the cache says what failed
        return 1
    finally:
        try:
            os.unlink(paths.probe_marker(name))
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
