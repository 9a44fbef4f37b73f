"""The one renderer: a command returns its result as data, this prints it.

`show(output, data, text)` writes `data` as JSON for `-o json`, else the text `text(data)`
makes of it; tables, colours and the escaping of text from files are here too, so every
command prints the same way. Messages for people go to stderr (info), never into the output.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # kctx list imports this module: no typing at start
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

# The colours of a check's level (doctor) and of other status words: SGR codes.
LEVELS = {"ok": ("ok  ", "32"), "warn": ("warn", "33"), "fail": ("FAIL", "1;31")}


def show(output: str, data: Any, text: Callable[[Any], str], stream: Any = None) -> None:
    """Print a command's result: JSON for output 'json', else text(data) (nothing when it is '')
    on `stream` (stdout; stderr for a report meant for people, such as import's)."""
    if output == "json":
        emit_json(data)
        return
    out = text(data)
    if out:
        (stream or sys.stdout).write(out)


def colour_on() -> bool:
    """Colours only on a terminal, and never with NO_COLOR set."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, sgr: str, on: bool | None = None) -> str:
    return f"\x1b[{sgr}m{text}\x1b[0m" if (colour_on() if on is None else on) else text


def level(name: str, on: bool | None = None) -> str:
    """A check level as shown: 'ok  ', 'warn', 'FAIL', coloured on a terminal."""
    tag, sgr = LEVELS[name]
    return paint(tag, sgr, on)


def emit_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded like kubectl's: three spaces between, no trailing blanks."""
    all_rows = [headers, *rows]
    widths = [max(map(len, column)) for column in zip(*all_rows)]
    fmt = "   ".join(f"{{:<{w}}}" for w in widths).format
    return "\n".join([fmt(*row).rstrip() for row in all_rows]) + "\n"


def info(message: str) -> None:
    """A message for the human: always on stderr, so stdout stays clean for eval and pipes."""
    sys.stderr.write(message + "\n")


def safe(text: str) -> str:
    """Text from files (context names, servers) with control characters made visible."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
