"""Turning command results into text for humans or JSON for programs."""

import sys
from typing import Any


def emit_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded like kubectl's: two spaces between, no trailing blanks."""
    all_rows = [headers, *rows]
    widths = [max(map(len, column)) for column in zip(*all_rows)]
    fmt = "   ".join(f"{{:<{w}}}" for w in widths).format
    return "".join(fmt(*row).rstrip() + "\n" for row in all_rows)


def info(message: str) -> None:
    """A message for the human: always on stderr, so stdout stays clean for eval and pipes."""
    sys.stderr.write(message + "\n")


def safe(text: str) -> str:
    """Text from files (context names, servers) with control characters made visible."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
