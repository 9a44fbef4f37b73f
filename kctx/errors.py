"""The one error type for "the user must act", and the exit codes kctx documents."""

OK = 0
USER_ERROR = 1
USAGE = 2
CRASH = 3
GUARD_REFUSED = 4  # protected target, no terminal and no matching KCTX_CONFIRM
GUARD_ABORTED = 5  # protected target, the typed answer was not the entry's name
INTERRUPTED = 130

# How writes reach a guarded entry: the API guard's refusal, `kctx current` and the prompt say it.
WAYS_ON = "writes from this shell go through `k` or `kctx confirm COMMAND` (they ask), or `kctx unlock 10m`"


class FatalError(Exception):
    """An error the user can act on: shown as one line, never as a traceback."""

    def __init__(self, message: str, hint: str | None = None, code: int = USER_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def crash(exc: BaseException, prog: str = "kctx") -> int:
    """An unexpected error: one line on stderr, the traceback in the crash log, exit 3."""
    import os
    import sys
    import traceback

    from kctx import __version__, paths

    log = paths.crash_log()
    try:
        os.makedirs(os.path.dirname(log), mode=0o700, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{prog} {__version__} {sys.argv!r}\n")
            traceback.print_exception(exc, file=f)
        where = f"; details in {log}"
    except OSError:
        where = ""
    sys.stderr.write(f"{prog}: unexpected error: {type(exc).__name__}: {exc}{where}\n")
    return CRASH


def exit_code(exc: BaseException, prog: str = "kctx") -> int:
    """Map an exception that ended a command to its one-line message and exit code.

    Shared by the click app, kctx's fast path and k, so every entry point fails alike.
    """
    import sys

    if isinstance(exc, FatalError):
        sys.stderr.write(f"{prog}: {exc}\n")
        return exc.code
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("\n")
        return INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        # The reader went away (`kctx list | head`): not worth a message. Silence the flush at exit.
        import os

        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return OK
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"{prog}: {exc.strerror or exc}{where}\n")
        return USER_ERROR
    if isinstance(exc, Exception):
        return crash(exc, prog)
    raise exc
