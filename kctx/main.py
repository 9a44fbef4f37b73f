"""The `kctx` console entry.

`kctx use` runs at every switch and completion at every Tab, so the simple forms of the
commands the command table marks FAST (use, ns, off, unlock, lock, init, prompt, list, confirm), and
the completion of names, are handled here without importing click (about 50 ms on a slow
machine); everything else, and anything unusual (--help, a bad option), goes to the click app
in kctx.cli.
"""

import os
import sys

from kctx.commands import table


def _namespace_opt(args: list[str]) -> tuple[list[str], str | None] | None:
    """Split `-n NS` / `--namespace NS` / `--namespace=NS` out of args; None when unusual."""
    rest: list[str] = []
    ns = None
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-n", "--namespace"):
            if i + 1 >= len(args) or ns is not None:
                return None
            ns = args[i + 1]
            i += 2
            continue
        if a.startswith("--namespace="):
            if ns is not None:
                return None
            ns = a[len("--namespace="):]
        elif a.startswith("-") and a != "-":
            return None
        else:
            rest.append(a)
        i += 1
    return rest, ns


def _fast(argv: list[str]) -> int | None:
    """Run the simple forms of the hot commands; None: let click handle it."""
    cmd, args = argv[0], argv[1:]
    if not table.fast(cmd):
        return None
    if table.evaluated(argv):
        from kctx.commands import switch

        if cmd == "use":
            parsed = _namespace_opt(args)
            if parsed is None or len(parsed[0]) != 1:
                return None  # no NAME: the interactive pick, through click
            return switch.use(parsed[0][0], parsed[1])
        if cmd == "ns":
            if not args:
                return switch.ns(None)
            if len(args) == 1 and (args[0] == "-" or not args[0].startswith("-")):
                return switch.ns(args[0])
            return None
        if cmd == "unlock":
            if len(args) == 1 and not args[0].startswith("-"):
                return switch.unlock(args[0])
            return None
        if cmd == "_dir":
            return switch.directory(args[0]) if len(args) == 1 else None
        if args:
            return None
        return {"off": switch.off, "lock": switch.lock, "_adopt": switch.adopt, "_start": switch.start}[cmd]()
    if cmd == "init":
        flags = set(args[1:])
        if not args or not flags <= {"--ps1", "--no-kubectl"} or len(flags) != len(args) - 1:
            return None
        from kctx.shell import SHELLS

        if args[0] not in SHELLS:
            return None
        from kctx.commands import init

        return init.init(args[0], ps1="--ps1" in flags, kubectl="--no-kubectl" not in flags)
    if cmd == "prompt" and (not args or args == ["--plain"]):
        from kctx.commands import switch

        return switch.prompt(plain=bool(args))
    if cmd == "confirm":
        if not args or args[0].startswith("-"):
            return None  # --help, `--`, an option: through click
        from kctx.commands import guard_cmds

        return guard_cmds.confirm(args)
    if cmd == "list":
        output = {(): "text", ("-o", "text"): "text", ("-o", "name"): "name", ("-o", "json"): "json"}.get(tuple(args))
        if output is None:
            return None
        from kctx.commands import store_cmds

        return store_cmds.list_(output)
    return None


def _complete() -> int | None:
    """Completion of entry names and namespaces, in click's format; None: let click do it."""
    env = os.environ
    mode = env.get("_KCTX_COMPLETE", "")
    shell = mode[: -len("_complete")] if mode.endswith("_complete") else ""
    words = env.get("COMP_WORDS", "")
    if shell not in ("bash", "zsh", "fish") or any(c in words for c in "'\"\\"):
        return None  # click's protocols (a shell of kctx.shell.SHELLS speaks one of them)
    cwords = words.split()
    if shell == "fish":
        incomplete = (env.get("COMP_CWORD", "").split() or [""])[0]
        args = cwords[1:]
        if incomplete and args and args[-1] == incomplete:
            args.pop()
    else:
        try:
            cword = int(env.get("COMP_CWORD", ""))
        except ValueError:
            return None
        args = cwords[1:cword]
        incomplete = cwords[cword] if cword < len(cwords) else ""
    if not args or incomplete.startswith("-"):
        return None
    command = " ".join(args[:2]) if " ".join(args[:2]) in table.COMMANDS else args[0]
    rest = args[len(command.split()):]
    if rest and rest[-1] in table.OPTIONS and not any(a.startswith("-") for a in rest[:-1]):
        kind = table.OPTIONS[rest[-1]]  # the value of an option
    elif any(a.startswith("-") for a in rest):
        return None
    else:
        kind = table.completes(command, len(rest))
    items: list[tuple[str, str]]
    from kctx import session

    if kind in (table.ENTRY, table.ENTRIES):
        names, tiers = session.completion_columns(in_force=True)[:2]
        items = [(n, t) for n, t in zip(names, tiers) if n.startswith(incomplete)]
    elif kind == table.NAMESPACE:
        items = [(n, "") for n in session.used_namespaces() if n.startswith(incomplete)]
    else:
        return None
    from kctx.shell import dialect_of

    d = dialect_of(shell)
    sys.stdout.write("\n".join(d.complete_item(value, help_) for value, help_ in items) + "\n")
    return 0


def _handle_fast(argv: list[str]) -> int | None:
    """Run the fast path with the same error handling as the click app."""
    try:
        if os.environ.get("_KCTX_COMPLETE"):
            return _complete()
        return _fast(argv) if argv else None
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - one line and an exit code
        from kctx.errors import exit_code

        return exit_code(e)


def _revive_guard(argv: list[str]) -> None:
    """In a shell the API guard fronts, any kctx command brings a dead guard back (cheap: a
    stat, a small read and a kill(0)); use, ns, off, _adopt, _start and _dir start or stop it themselves."""
    if (argv[:1] and argv[0] in ("use", "ns", "off", "_adopt", "_start", "_dir")) or os.environ.get("_KCTX_COMPLETE"):
        return
    try:
        from kctx import session
        from kctx.apiguard import state

        s = session.guarded_session()
        if s is None or state.alive(state.read_state(s)):
            return
        from kctx.apiguard import launch

        status = launch.status(s)
    except Exception as e:  # noqa: BLE001 - the command itself must still run
        status = f"down: {e}"
    sys.stderr.write("kctx: the API guard of this shell was down: restarted\n" if status == "restarted"
                     else f"kctx: the API guard of this shell is {status}\n")


def main() -> int:
    argv = sys.argv[1:]
    _revive_guard(argv)
    rc = _handle_fast(argv)
    if rc is not None:
        return rc
    from kctx.cli import run

    if table.evaluated(argv) and os.environ.get("KCTX_SHELL"):
        # The integration evaluates stdout: help and every message go to stderr instead, the
        # commands write their shell code to fd 1 directly (switch.emit).
        sys.stdout.flush()
        saved, sys.stdout = sys.stdout, sys.stderr
        try:
            return run(argv)
        finally:
            sys.stdout = saved
    return run(argv)
