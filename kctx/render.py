"""Turning command results into text for humans or JSON for programs."""

import json
import sys
from typing import Any


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded like kubectl's: two spaces between, no trailing blanks."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [headers, *rows]:
        line = "   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def info(message: str) -> None:
    """A message for the human: always on stderr, so stdout stays clean for eval and pipes."""
    sys.stderr.write(message + "\n")


def safe(text: str) -> str:
    """Text from files (context names, servers) with control characters made visible."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
