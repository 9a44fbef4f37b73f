"""Real interactive bash, zsh and fish on a pty (pexpect), with kctx's integration loaded.

Each shell starts without rc files (bash --norc --noprofile, zsh -f, fish --no-config) and
with a prompt that shows `<<${KCTX_PS1}>>STATUS#N> `: the kctx segment, the last exit status
and a counter, so that `run` knows which prompt answers which command.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, Self

import pexpect
import pytest

SHELLS = ("bash", "zsh", "fish")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?|[\x01\x02]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def require(shell: str) -> None:
    """Skip when `shell` is missing, or fail in CI (KCTX_REQUIRE_SHELLS=1)."""
    if shutil.which(shell):
        return
    if os.environ.get("KCTX_REQUIRE_SHELLS"):
        pytest.fail(f"{shell} is not installed")
    pytest.skip(f"{shell} is not installed")


def init_line(shell: str, args: str = "--no-kubectl") -> str:
    if shell == "fish":
        return f"kctx init fish {args} | source"
    return f'eval "$(kctx init {shell} {args})"'


@dataclass
class Result:
    output: str  # what the command printed (ANSI stripped, \r removed)
    prompt: str  # the kctx segment of the next prompt (raw: escapes kept)
    status: int  # the exit status the next prompt reports
    prefix: str = ""  # what the prompt shows before the test's own part (kctx init --ps1)

    @property
    def segment(self) -> str:
        """The prompt segment as the user sees it (no colour escapes)."""
        return strip_ansi(self.prompt)


class PtyShell:
    def __init__(self, shell: str, env: dict[str, str] | None = None, cwd: str | None = None,
                 init: str | None = "--no-kubectl", before_init: str | None = None,
                 timeout: float = 30, segment: bool = True) -> None:
        require(shell)
        self.shell = shell
        self.n = 0
        env = dict(env if env is not None else os.environ)
        env["TERM"] = "dumb"
        env["HISTFILE"] = os.devnull  # no history files in the test's home
        env.pop("PROMPT_COMMAND", None)
        argv = {"bash": ["--norc", "--noprofile", "-i"], "zsh": ["-f", "-i"],
                "fish": ["--no-config", "--private", "-i"]}[shell]
        self.p = pexpect.spawn(shell, argv, env=env, cwd=cwd, encoding="utf-8",
                               codec_errors="replace", timeout=timeout, dimensions=(60, 400))
        if shell == "bash":
            setup = ("bind 'set enable-bracketed-paste off' 2>/dev/null; __t=0; "
                     "PS1='<<%s>>$?#$((++__t))> '" % ("${KCTX_PS1-}" if segment else ""))
        elif shell == "zsh":
            setup = ("unsetopt zle prompt_sp; PROMPT_EOL_MARK=; setopt prompt_subst; __t=0; "
                     "PROMPT='<<%s>>%%?#$((++__t))> '" % ("${KCTX_PS1-}" if segment else ""))
        else:
            # fish may run fish_prompt again to repaint: count commands, not prompts.
            setup = ("set -g fish_greeting ''; set -g fish_autosuggestion_enabled 0; set -g __t 0; "
                     "function __t_count --on-event fish_postexec; set -g __t (math $__t + 1); end; "
                     "function fish_prompt; set -l s $status; "
                     "printf '<<'; %s "
                     "printf '>>%%s#%%s> ' $s $__t; end"
                     % ("functions -q kctx_prompt; and kctx_prompt;" if segment else ""))
        self.p.sendline(setup)
        self._wait()
        if before_init:
            self.run(before_init)
        if init is not None:
            r = self.run(init_line(shell, init))
            assert r.status == 0, r.output

    def _wait(self) -> Any:
        self.n += 1
        self.p.expect(rf"([^\r\n]*?)<<((?:(?!<<)[^\r\n])*)>>(\d+)#{self.n}> ")
        return self.p.match

    def run(self, command: str) -> Result:
        self.p.sendline(command)
        m = self._wait()
        # fish marks a line without a final newline with ⏎ and pads it with spaces.
        before = re.sub(r"⏎ *", "", strip_ansi(self.p.before)).replace("\r", "")
        # Drop the echo of the command (fish redraws it several times).
        idx = before.rfind(command)
        if idx >= 0:
            nl = before.find("\n", idx)
            before = before[nl + 1:] if nl >= 0 else ""
        elif "\n" in before:
            before = before.split("\n", 1)[1]
        return Result(before, m.group(2), int(m.group(3)), m.group(1))

    def value(self, expr: str) -> str:
        """The value of a shell expression such as "$KCTX_CONTEXT" (one line)."""
        r = self.run(f"printf '<V:%s>\\n' {expr}")
        m = re.search(r"<V:(.*?)>\n", r.output)
        assert m, r.output
        return m.group(1)

    def var(self, name: str) -> str:
        return self.value(f'"${name}"' if self.shell == "fish" else f'"${{{name}-}}"')

    def export(self, name: str, value: str) -> Result:
        if self.shell == "fish":
            return self.run(f"set -gx {name} '{value}'")
        return self.run(f"export {name}='{value}'")

    def close(self) -> int | None:
        if self.p.isalive():
            self.p.sendline("exit")
            try:
                self.p.expect(pexpect.EOF, timeout=15)
            except pexpect.TIMEOUT:
                self.p.terminate(force=True)
        self.p.close()
        return self.p.exitstatus

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
