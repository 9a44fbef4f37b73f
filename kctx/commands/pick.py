"""The interactive pick of `kctx use` without a name: fzf when installed, else a numbered menu.

Both ask on /dev/tty, never on stdin (the integration captures stdout to evaluate it).
"""

from __future__ import annotations

import os

from kctx import session
from kctx.errors import FatalError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def pick() -> str:
    """Ask on the terminal which entry to use: fzf when installed, else a numbered menu."""
    names = session.entry_names()
    if not names:
        raise FatalError("no entries yet", hint="'kctx import' splits your kubeconfig into entries")
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise FatalError("no entry given and no terminal to pick one on", hint="kctx use NAME") from None
    import shutil

    fzf = shutil.which("fzf")
    if fzf:
        os.close(fd)
        return _pick_fzf(fzf, names)
    with open(fd, "r+b", buffering=0) as tty:
        return _pick_menu(tty, names)


def _pick_fzf(fzf: str, names: list[str]) -> str:
    import subprocess

    active = os.environ.get("KCTX_CONTEXT", "")
    # fzf draws on /dev/tty itself; the names come in on stdin, the pick goes out on stdout.
    proc = subprocess.run(
        [fzf, "--height=40%", "--reverse", "--prompt=kctx use> ", "--no-multi",
         *(["--header", f"now: {active}"] if active else [])],
        input="\n".join(names) + "\n", stdout=subprocess.PIPE, text=True, check=False)
    choice = proc.stdout.strip()
    if proc.returncode != 0 or not choice:
        raise FatalError("nothing picked", code=130 if proc.returncode == 130 else 1)
    return choice


def _pick_menu(tty: Any, names: list[str]) -> str:
    width = len(str(len(names)))
    lines = [f"{i:>{width}}) {name}\n" for i, name in enumerate(names, 1)]
    tty.write(("".join(lines) + "entry (number or name): ").encode())
    answer = tty.readline().decode("utf-8", "replace").strip()
    if answer.isdigit() and 1 <= int(answer) <= len(names):
        return names[int(answer) - 1]
    if answer in names:
        return answer
    raise FatalError("nothing picked" if not answer else f"no entry {answer!r}")
