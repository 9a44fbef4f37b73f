"""`k`: kubectl, except that a change to a protected cluster stops and asks first.

Reads go straight to kubectl (os.execv: kubectl owns the terminal, its exit code and signals);
in a kctx shell most of them never reach this module (the fast path of the shell's `k` function, fed by
the note fast.remember writes). A change resolves the target, as kubectl will see it after its
kuberc; on a protected one it needs the entry's name typed on /dev/tty, KCTX_CONFIRM=<entry>,
or `kctx unlock`. Every import here is on the path of commands users type: keep them few.
"""

import os
import sys

from kctx.errors import FatalError

# No `from __future__ import annotations` and no typing at run time: each costs every `k`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn
else:
    Any = NoReturn = object

MAX_DEPTH = 4  # nested k (a credential plugin calling kubectl that is k) beyond this is a loop

USAGE = """\
k: kubectl with a guard for protected clusters (part of kctx)

Usage: k [kubectl arguments...]

Everything is kubectl's: its commands, flags and output, below. k adds one thing: a command that
would change a protected cluster (tier prod; the cluster of a prod entry by URL, address or
CA; or a namespace a guard.namespace_tiers rule protects) shows the target and what would change, then asks you to
type the entry's name on the terminal. Reads never ask.

  KCTX_CONFIRM=<entry> k ...   confirm without a terminal, for that entry only
  kctx confirm helm ...        the same question for a command that is not kubectl
  kctx unlock 15m              no questions for this shell's entry for 15 minutes (kctx lock)
  kctx audit                   every decision on a protected target
  KCTX_KUBECTL=/path/kubectl   the kubectl to run

Exit codes: kubectl's own; 4 refused (no terminal and no matching KCTX_CONFIRM),
5 aborted at the question, 130 interrupted.
"""


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    try:
        return run(argv)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - a traceback helps nobody typing `k`
        from kctx.errors import exit_code

        return exit_code(e, "k")


def _own() -> str:
    return os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""


def exec_kubectl(argv: list[str], target: Any = None, entry: str | None = None, stdin_fd: int | None = None,
                 kubectl: str | None = None) -> NoReturn:
    """Replace this process with kubectl, marked so that a nested `k` goes straight to it."""
    if kubectl is None:
        from kctx.kubectl.choice import resolve

        kubectl = resolve(entry, target, own=_own())
    depth = _depth()
    os.environ["KCTX_IN_K"] = str(depth + 1)
    os.environ["KCTX_KUBECTL"] = kubectl
    if stdin_fd is not None:
        os.lseek(stdin_fd, 0, os.SEEK_SET)
        os.dup2(stdin_fd, 0)
        os.close(stdin_fd)
    from kctx.guard import hand_over

    try:
        hand_over(kubectl, [kubectl, *argv])
    except OSError as e:
        raise FatalError(f"cannot run {kubectl}: {e.strerror}") from None


def _depth() -> int:
    value = os.environ.get("KCTX_IN_K", "")
    return int(value) if value.isdigit() else (1 if value else 0)


def run(argv: list[str]) -> int:
    depth = _depth()
    if depth:
        # Started by kubectl (a credential plugin, a kubectl plugin): run the real kubectl now.
        if depth >= MAX_DEPTH:
            raise FatalError("kubectl leads back to k again and again", hint="set KCTX_KUBECTL to the real kubectl")
        exec_kubectl(argv)  # KCTX_KUBECTL, set by the outer k, names the kubectl it chose
    if argv in (["--help"], ["-h"]):
        return _help()

    from kctx.guard.args import parse
    from kctx.guard.target import Target
    from kctx.guard.verbs import READ, classify

    p = parse(argv)
    from kctx.guard import kuberc

    where = kuberc.location(p)
    if where and os.path.exists(where):
        p = kuberc.apply(p)  # judged as kubectl will run it; run as typed (kubectl applies it)
    _go_direct(p)
    cfg = _config()
    guard = cfg["guard"] if cfg else None
    kind, _ = classify(p, guard)
    target = Target(p, cfg)
    if kind == READ:
        from kctx.guard.fast import remember
        from kctx.kubectl.choice import resolve

        kubectl = resolve(None, target, own=_own())
        remember(p, kubectl, guard)  # the next reads in this shell may skip Python (kctx/shell/k.*)
        exec_kubectl(argv, kubectl=kubectl)
    if not target.protected:
        exec_kubectl(argv, target)
    return _protected(p, argv, target, target.config)


def _go_direct(p: Any) -> None:
    """In a shell the API guard fronts (KUBECONFIG is its session alone), judge and run the
    command on the entry itself: k asks, so what it runs must not meet the guard's refusal.
    kubeconfig edits (`k config set-context --current ...`) still go to the session file."""
    from kctx import session

    s = session.guarded_session()
    if s is None or p.path[:1] in (("config",), ("kuberc",)):
        return
    from kctx.apiguard import launch

    launch.go_direct(s)


def _config() -> dict[str, Any] | None:
    """The user's config, or None when there is no config file (the defaults apply; importing
    kctx.config to learn them would cost every read)."""
    from kctx import paths

    if not os.path.exists(paths.config_file()):
        return None
    from kctx import config

    return config.load()


def _protected(p: Any, argv: list[str], target: Any, cfg: dict[str, Any]) -> int:
    from kctx.guard import ask

    entry = target.confirm
    stdin_fd = None

    def preview(tty: int) -> None:
        nonlocal stdin_fd
        if cfg["guard"].get("diff", True) and ask.preview_commands(p):
            from kctx.kubectl.choice import resolve

            kubectl = resolve(entry, target, own=_own())
            if ask.reads_stdin(p):
                stdin_fd = ask.buffer_stdin()
            ask.run_preview(kubectl, p, tty, stdin_fd, cfg)

    code = ask.decide(
        entry, target.reason, ask.command_line(argv), "k",
        audit=lambda outcome, detail=None, tty=None: _audit(outcome, target, argv, detail, tty),
        unlocked=lambda: target.unresolved is None and _unlocked(target),
        banner=lambda: ask.banner(target, argv, cfg), preview=preview)
    if code is not None:
        return code
    exec_kubectl(argv, target, entry, stdin_fd=stdin_fd)


def _unlocked(target: Any) -> bool:
    from kctx import session
    from kctx.identity import normalise_server

    state = session.unlock_state(session.from_kubeconfig())
    return bool(state and state["entry"] == target.confirm
                and normalise_server(state["server"]) == normalise_server(target.server))


def _audit(outcome: str, target: Any, argv: list[str], detail: str | None = None, tty: int | None = None) -> None:
    from kctx import audit

    record = audit.decision(outcome, {
        "entry": target.confirm,
        "tier": target.tier,
        "server": target.server,
        "namespace": "*" if target.everywhere else target.namespace,
        "context": target.context,
        "argv": argv,
        "reason": target.reason,
        "match": target.match,
        "detail": detail,
    }, tty)
    try:
        audit.append(record)
    except OSError as e:
        # A decision that cannot be recorded is still made; say so rather than fail the command.
        sys.stderr.write(f"k: warning: cannot write the audit log: {e.strerror or e}\n")


def _help() -> int:
    sys.stdout.write(USAGE + "\n")
    try:
        from kctx.kubectl.choice import resolve

        kubectl = resolve(own=_own())
    except FatalError as e:
        sys.stdout.write(f"(kubectl's own help is not shown: {e})\n")
        return 0
    sys.stdout.write("kubectl's help follows.\n\n")
    exec_kubectl(["--help"], kubectl=kubectl)
