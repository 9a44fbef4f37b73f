"""The guard on the command line: `k` (main.py) and `kctx confirm`, with the parser, target,
verbs and question they share. Imported by every `k`: nothing here imports kctx or typing."""

import os
import sys

TYPE_CHECKING = False  # no typing at run time: `k` imports this
if TYPE_CHECKING:
    from typing import NoReturn
else:
    NoReturn = object


def hand_over(path: str, argv: list[str]) -> NoReturn:
    """Replace this process with the program at `path` (argv[0] as given): it owns the terminal,
    its exit code and its signals. Raises OSError when it cannot be run."""
    sys.stdout.flush()
    sys.stderr.flush()
    # Python ignores SIGPIPE (and SIGXFSZ); ignored signals survive exec, and a program piped into
    # `head` must die of SIGPIPE as it does when run directly. (_signal: `signal` imports enum.)
    import _signal

    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(_signal, name):
            _signal.signal(getattr(_signal, name), _signal.SIG_DFL)
    os.execv(path, argv)
