"""The one error type for "the user must act", and the exit codes kctx documents."""

OK = 0
USER_ERROR = 1
USAGE = 2
CRASH = 3
GUARD_REFUSED = 4  # protected target, no terminal and no matching KCTX_CONFIRM
GUARD_ABORTED = 5  # protected target, the typed answer was not the entry's name
INTERRUPTED = 130


class FatalError(Exception):
    """An error the user can act on: shown as one line, never as a traceback."""

    def __init__(self, message: str, hint: str | None = None, code: int = USER_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
