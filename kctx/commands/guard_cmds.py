"""kctx audit: what the guard decided on protected targets."""

from __future__ import annotations

from kctx import audit, render

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _command(rec: dict[str, Any]) -> str:
    from kctx.guard.ask import command_line

    if isinstance(rec.get("method"), str):  # the API guard's records: the request, and who sent it
        agent = str(rec.get("user_agent") or "").split(" ", 1)[0]
        return f"{rec['method']} {rec.get('path', '')}" + (f"  ({agent})" if agent else "")
    argv = rec.get("argv")
    if not isinstance(argv, list):
        return ""
    words = [str(a) for a in argv]
    # k's records hold kubectl's arguments; kctx unlock/lock records hold their whole command.
    return command_line(words[1:], prog="kctx") if words[:1] == ["kctx"] else command_line(words)


def audit_(output: str, last: int | None = None, entry: str | None = None) -> int:
    """Print the audit log (oldest first), the last `last` records, of one entry if given."""
    records = audit.read()
    if entry:
        records = [r for r in records if r.get("entry") == entry]
    if last:
        records = records[-last:]
    if not records and output != "json":
        render.info("the audit log is empty: no change to a protected target was asked for yet")
        return 0
    render.show(output, records, _text)
    return 0


def _text(records: list[dict[str, Any]]) -> str:
    rows = [[render.safe(str(r.get(k) or "")) for k in ("time", "outcome", "entry", "namespace")]
            + [render.safe(_command(r))] for r in records]
    return render.table(["TIME", "OUTCOME", "ENTRY", "NAMESPACE", "COMMAND"], rows)
