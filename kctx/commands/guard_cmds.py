"""audit, confirm: what the guard decided on protected targets, and one command confirmed."""

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


def confirm(argv: list[str]) -> int:
    """`kctx confirm COMMAND...`: run one command that may change this shell's protected entry
    (helm, a script, any client) once the entry's name is typed on the terminal, as `k` asks for
    kubectl. The confirmed command runs with the entry's own kubeconfig, around the API guard, so
    that it alone may write; a `k` inside it asks no more for this entry (KCTX_CONFIRM)."""
    import os

    from kctx import config, session
    from kctx.commands import switch
    from kctx.errors import FatalError
    from kctx.guard import ask, hand_over

    path = session.from_kubeconfig()
    text = session.read_text(path) if path else None
    state = session.parse(text) if text is not None else None
    entry = state["current-context"] if state else ""
    found = session.entry_record(entry) if state and session.valid_name(entry) else None
    if state is None or found is None:
        raise FatalError("this shell targets no kctx entry, so there is nothing to confirm",
                         hint="kctx use NAME first, or: kctx exec NAME -- kctx confirm COMMAND")
    program = _program(argv[0])
    cfg = config.load()
    rec = switch.team_record(cfg, entry, found)
    why = switch.why_protected(cfg, entry, rec)
    if why is not None:
        namespace = state["namespace"] or "default"
        tier = str(rec.get("tier") or "none")
        server = str(rec.get("server") or "")
        shown = ask.command_line(argv, prog="kctx confirm")

        def record(outcome: str, detail: str | None = None, tty: int | None = None) -> None:
            try:
                audit.append(audit.decision(outcome, {
                    "entry": entry, "tier": tier, "server": server, "namespace": namespace, "context": entry,
                    "argv": ["kctx", "confirm", *argv], "reason": why, "match": None, "detail": detail}, tty))
            except OSError as e:
                render.info(f"kctx: warning: cannot write the audit log: {e.strerror or e}")

        def unlocked() -> bool:
            from kctx.identity import normalise_server

            u = session.unlock_state(path)
            return bool(u and u["entry"] == entry and normalise_server(u["server"]) == normalise_server(server))

        def banner() -> str:
            return ask.card(f"this command may change a protected target: {entry}", tier, [
                ("entry", entry), ("server", server or "unknown"),
                ("namespace", f"{namespace} (unless the command names another)"),
                ("command", shown), ("why", why)], cfg)

        code = ask.decide(entry, why, shown, "kctx confirm", record, unlocked, banner)
        if code is not None:
            return code
        from kctx.apiguard import launch

        s = session.guarded_session()
        if s is not None and not launch.go_direct(s):
            raise FatalError("this shell's session no longer names an entry kctx knows", hint="kctx use NAME")
        os.environ["KCTX_CONFIRM"] = entry
    try:
        hand_over(program, argv)
    except OSError as e:
        raise FatalError(f"cannot run {ask.quote(argv[0])}: {e.strerror}", code=126) from None


def _program(name: str) -> str:
    """The file `name` runs, found as a shell finds it (a name with a slash as it is, else the
    first executable file of that name on PATH); 127 as a shell says when there is none, 126
    when it is not executable. (No shutil: its imports cost 15 ms on this path.)"""
    import os

    from kctx.errors import FatalError
    from kctx.guard.ask import quote

    def runs(path: str) -> bool:
        return os.path.isfile(path) and os.access(path, os.X_OK)

    if os.sep in name:
        if runs(name):
            return name
        if os.path.isfile(name):
            raise FatalError(f"cannot run {quote(name)}: it is not executable", code=126)
    elif name:
        for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
            path = os.path.join(folder or ".", name)
            if runs(path):
                return path
    raise FatalError(f"{quote(name)}: command not found", code=127)
