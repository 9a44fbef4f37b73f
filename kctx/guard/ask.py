"""The question on the terminal: a banner, what would change, then the entry's name typed back.

Everything here talks to /dev/tty, never to stdin or stdout: `cat x.yaml | k apply -f -` still
hands the manifest to kubectl, and `k ... > out` keeps the banner out of the file.
"""

from __future__ import annotations

import os

from kctx.guard.args import Parsed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")
PREVIEW_TIMEOUT = "30s"


def open_tty() -> int | None:
    """A read-write descriptor on the controlling terminal, or None when there is none."""
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None


def quote(word: str) -> str:
    """A word as a POSIX shell would need it, control characters made visible."""
    if word and set(word) <= _SAFE:
        return word
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in word)
    return "'" + shown.replace("'", "'\\''") + "'"


def command_line(argv: list[str], prog: str = "k") -> str:
    return " ".join([prog, *(quote(a) for a in argv)])


def _color(cfg: dict[str, Any], tier: str) -> str:
    if os.environ.get("NO_COLOR"):
        return ""
    try:
        from kctx.config import tier_color

        return tier_color(cfg, tier) or ("1;31" if tier == "unknown" else "")
    except ValueError:
        return ""


def banner(target: Any, argv: list[str], cfg: dict[str, Any]) -> str:
    who = target.confirm + ("" if target.entry or not target.context or target.context == target.confirm
                            else f" (reached through context {target.context})")
    return card(f"this changes a protected target: {target.confirm}", target.tier, [
        ("entry", who),
        *([("matched", target.match["why"])] if target.match else []),
        ("server", target.server or "unknown"),
        ("namespace", namespace_text(target)),
        ("command", command_line(argv)),
        ("why", target.reason),
    ], cfg)


def card(heading: str, tier: str, rows: list[tuple[str, str]], cfg: dict[str, Any]) -> str:
    """The banner's shape: the heading in bold with the tier in its colour, then one row per fact."""
    sgr = _color(cfg, tier)
    plain = bool(os.environ.get("NO_COLOR"))
    bold, reset = ("", "") if plain else ("\x1b[1m", "\x1b[0m")
    shown = f"\x1b[{sgr}m{tier}{reset}" if sgr else tier
    lines = ["", f"{bold}⚠  {heading}{reset}  [tier {shown}]", *(f"   {name:<10} {value}" for name, value in rows), ""]
    return "\n".join(_visible(x) for x in lines)


def namespace_text(target: Any) -> str:
    p = target._p
    names = ", ".join(dict.fromkeys(target.namespaces))
    if not target.everywhere:
        return names
    if p.true("all-namespaces"):
        return "all namespaces (-A)"
    if p.uncertain:
        return f"{names} (or another: kctx did not understand every flag)"
    if (p.flags.get("filename") or p.flags.get("kustomize")) and not p.flags.get("namespace"):
        return f"{names}, or whichever the manifests name"
    return f"{names}; cluster-wide objects touch every namespace"


def _visible(text: str) -> str:
    # Names and servers come from files: show control characters, keep our own colour codes.
    return "".join(c if c.isprintable() or c in "\x1b\n" else repr(c)[1:-1] for c in text)


def reads_stdin(p: Parsed) -> bool:
    return "-" in (p.flags.get("filename") or [])


def preview_commands(p: Parsed) -> list[tuple[str, list[str]]]:
    """[(title, kubectl arguments)] that show what the command would change, possibly none."""
    common_drop = ("help", "dry-run", "output", "template", "watch", "interactive", "edit")
    timeout = [] if p.last("request-timeout") else [f"--request-timeout={PREVIEW_TIMEOUT}"]
    if p.level in ("apply", "replace"):
        if p.true("local"):
            return []
        return [("kubectl diff (live → what this would apply)",
                 p.rebuild(["diff"], keep="diff", drop=common_drop, extra=timeout, positional=False))]
    if p.level == "delete" and (p.flags.get("filename") or p.flags.get("kustomize")):
        return [("server-side dry run",
                 p.rebuild(["delete"], drop=common_drop + ("wait",), extra=["--dry-run=server", *timeout]))]
    if p.level == "patch" and not p.true("local"):
        return [
            ("live", p.rebuild(["get"], keep="get", drop=common_drop + ("subresource",),
                                extra=["-o", "yaml", *timeout])),
            ("patched (server-side dry run)", p.rebuild(["patch"], drop=common_drop,
                                                        extra=["--dry-run=server", "-o", "yaml", *timeout])),
        ]
    return []


def run_preview(kubectl: str, p: Parsed, tty: int, stdin_fd: int | None, cfg: dict[str, Any]) -> None:
    """Run the preview commands, printing what they show on the terminal."""
    import subprocess

    cmds = preview_commands(p)
    if not cmds:
        return
    env = dict(os.environ, KCTX_IN_K="1")
    color = not os.environ.get("NO_COLOR")
    outputs: list[tuple[str, int, bytes]] = []
    for title, args in cmds:
        if stdin_fd is not None:
            os.lseek(stdin_fd, 0, os.SEEK_SET)
        stdin: Any = stdin_fd if stdin_fd is not None else subprocess.DEVNULL
        proc = subprocess.run([kubectl, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=tty, env=env, check=False)
        outputs.append((title, proc.returncode, proc.stdout))
    write = _writer(tty)
    if p.level == "patch" and len(outputs) == 2 and outputs[0][1] == 0 and outputs[1][1] == 0:
        import difflib

        before = outputs[0][2].decode("utf-8", "replace").splitlines(keepends=True)
        after = outputs[1][2].decode("utf-8", "replace").splitlines(keepends=True)
        diff = list(difflib.unified_diff(before, after, "live", "patched (server-side dry run)"))
        write("--- what this patch would change:\n")
        write(_colour_diff(b"".join(x.encode() for x in diff), color) if diff else "(no change)\n")
        return
    for title, code, out in outputs[-1:] if p.level == "patch" else outputs:
        write(f"--- {title}:\n")
        if p.level in ("apply", "replace") and code == 0 and not out.strip():
            write("(no change)\n")
        else:
            write(_colour_diff(out, color))
        if code > 1 or (code == 1 and p.level not in ("apply", "replace")):
            write(f"(the preview failed with exit code {code}: it shows nothing about the change)\n")


def _colour_diff(out: bytes, color: bool) -> str:
    text = out.decode("utf-8", "replace")
    if not color:
        return text
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("+") and not line.startswith("+++"):
            line = "\x1b[32m" + line.rstrip("\n") + "\x1b[0m\n"
        elif line.startswith("-") and not line.startswith("---"):
            line = "\x1b[31m" + line.rstrip("\n") + "\x1b[0m\n"
        lines.append(line)
    return "".join(lines)


def _writer(tty: int) -> Any:
    def write(text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            n = os.write(tty, data)
            data = data[n:]
    return write


def question(tty: int, name: str) -> bool:
    """Ask for `name` on the terminal; True only when exactly that was typed."""
    write = _writer(tty)
    write(f"type {name} to continue (anything else aborts): ")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(tty, 1024)
        if not chunk:  # end of file (Ctrl-D)
            write("\n")
            break
        buf += chunk
    return buf.decode("utf-8", "replace").strip() == name


def buffer_stdin() -> int:
    """Read stdin to its end into an unlinked temp file; its descriptor, at offset 0."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="kctx-stdin-")
    os.unlink(path)
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        while chunk:
            n = os.write(fd, chunk)
            chunk = chunk[n:]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def decide(entry: str, reason: str, shown: str, prog: str, audit: Any, unlocked: Any, banner: Any,
           preview: Any = None) -> int | None:
    """Whether a command that would change the protected `entry` may run: None when it may
    (KCTX_CONFIRM names the entry, this shell is unlocked, or the entry's name was typed on the
    terminal), else its exit code, said on stderr. Shared by `k` and `kctx confirm`.

    `shown` is the command as typed; `audit(outcome, detail=None, tty=None)` records each
    decision; `unlocked()` and `banner()` are asked only when needed; `preview(tty)` shows what
    would change between the banner and the question."""
    import sys

    from kctx.errors import GUARD_ABORTED, GUARD_REFUSED, INTERRUPTED

    confirm = os.environ.get("KCTX_CONFIRM")
    if confirm:
        if confirm == entry:
            audit("confirmed-by-env")
            return None
        audit("refused", detail=f"KCTX_CONFIRM names {confirm!r}")
        sys.stderr.write(f"{prog}: refused: KCTX_CONFIRM={confirm} but this command would change {entry} ({reason})\n")
        return GUARD_REFUSED
    if unlocked():
        audit("unlocked")
        return None
    tty = open_tty()
    if tty is None:
        audit("refused", detail="no terminal")
        sys.stderr.write(
            f"{prog}: refused: {shown} would change the protected target {entry} ({reason}), "
            f"and there is no terminal to ask on.\n"
            f"{prog}: to confirm without a terminal, run it as: KCTX_CONFIRM={entry} {shown}\n")
        return GUARD_REFUSED
    # Ctrl-C at the question always interrupts, even when the process inherited SIGINT ignored
    # (started in the background by a non-interactive shell); what it inherited is put back after.
    import _signal

    from kctx import paths
    from kctx.fsutil import file_lock

    inherited = _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    try:
        with file_lock(paths.question_lock_file(os.fstat(tty).st_rdev)):  # one question at a time here
            os.write(tty, banner().encode("utf-8", "replace"))
            if preview is not None:
                preview(tty)
            ok = question(tty, entry)
        if inherited is not None:
            _signal.signal(_signal.SIGINT, inherited)
    except KeyboardInterrupt:
        os.write(tty, b"\n")
        audit("interrupted", tty=tty)
        sys.stderr.write(f"{prog}: interrupted; nothing was run\n")
        return INTERRUPTED
    if not ok:
        audit("aborted", tty=tty)
        os.write(tty, b"aborted: nothing was run\n")
        return GUARD_ABORTED
    audit("confirmed", tty=tty)
    os.close(tty)
    return None
