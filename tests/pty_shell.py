"""Real interactive bash, zsh, fish and nushell on a pty (pexpect), with kctx's integration loaded.

Each shell starts without rc files (bash --norc --noprofile, zsh -f, fish --no-config, nu -n)
and with a prompt that shows `<<${KCTX_PS1}>>STATUS#N> `: the kctx segment, the last exit
status and a counter, so that `run` knows which prompt answers which command.
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Self

import pexpect
import pytest

SHELLS = ("bash", "zsh", "fish", "nu")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?|\x1b[78]|[\x01\x02]")

# nu has no eval: `kctx init nu` is saved to a file that the next line sources (outside the
# test's folders, which some tests compare before and after).
_NU_DIR = tempfile.mkdtemp(prefix="kctx-test-nu-")
atexit.register(shutil.rmtree, _NU_DIR, True)
_nu_files = itertools.count()


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def require(shell: str) -> None:
    """Skip when `shell` is missing, or fail in CI (KCTX_REQUIRE_SHELLS=1)."""
    if shutil.which(shell):
        return
    if os.environ.get("KCTX_REQUIRE_SHELLS"):
        pytest.fail(f"{shell} is not installed")
    pytest.skip(f"{shell} is not installed")


def script_argv(shell: str, script: str) -> list[str]:
    """The command that runs `script` in `shell`, reading none of the user's start-up files."""
    flags = {"bash": ["--norc", "--noprofile"], "zsh": ["-f"], "fish": ["--no-config"], "nu": ["-n"]}[shell]
    return [shell, *flags, "-c", script]


def init_line(shell: str, args: str = "--no-kubectl") -> str:
    """How a user loads the integration in `shell` (for nu: two lines, run one by one)."""
    if shell == "fish":
        return f"kctx init fish {args} | source"
    if shell == "nu":
        path = os.path.join(_NU_DIR, f"kctx-{next(_nu_files)}.nu")
        return f"kctx init nu {args} | save -f {path}\nsource {path}"
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
                "fish": ["--no-config", "--private", "-i"], "nu": ["-n", "--no-history", "-i"]}[shell]
        self.p = pexpect.spawn(shell, argv, env=env, cwd=cwd, encoding="utf-8",
                               codec_errors="replace", timeout=timeout, dimensions=(60, 400))
        if shell == "bash":
            setup = ("bind 'set enable-bracketed-paste off' 2>/dev/null; __t=0; "
                     "PS1='<<%s>>$?#$((++__t))> '" % ("${KCTX_PS1-}" if segment else ""))
        elif shell == "zsh":
            setup = ("unsetopt zle prompt_sp; PROMPT_EOL_MARK=; setopt prompt_subst; __t=0; "
                     "PROMPT='<<%s>>%%?#$((++__t))> '" % ("${KCTX_PS1-}" if segment else ""))
        elif shell == "nu":
            # nu repaints the prompt at every key: count commands (pre_execution), not prompts.
            self.p.delaybeforesend = None  # it asks where the cursor is at each key: answer at once
            setup = ("$env.config.show_banner = false; "
                     "$env.config.shell_integration = {osc2: false, osc7: false, osc8: false, "
                     "osc9_9: false, osc133: false, osc633: false, reset_application_mode: false}; "
                     "$env.PROMPT_INDICATOR = ''; $env.PROMPT_COMMAND_RIGHT = ''; "
                     "$env.PROMPT_MULTILINE_INDICATOR = ''; $env.__t = 1; "
                     "$env.config.hooks.pre_execution = [{|| $env.__t = $env.__t + 1 }]; "
                     "$env.PROMPT_COMMAND = {|| $\"<<(%s)>>($env.LAST_EXIT_CODE)#($env.__t)> \" }"
                     % ("$env.__kctx?.ps1? | default ''" if segment else "''"))
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

    def expect(self, pattern: str) -> Any:
        """Wait for `pattern`, answering the line editor's questions on the way: nu's asks
        where the cursor is (ESC [6n), as a terminal would. `self.before`: all that came first."""
        self.before = ""
        while self.p.expect(["\x1b\\[6n", pattern]) == 0:
            self.before += self.p.before
            self.p.send("\x1b[1;1R")
        self.before += self.p.before
        return self.p.match

    def settle(self, seconds: float) -> None:
        """Give the shell `seconds` to start or work, answering its line editor meanwhile."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self.p.expect("\x1b\\[6n", timeout=left)
            except pexpect.TIMEOUT:
                return
            self.p.send("\x1b[1;1R")

    def type_line(self, line: str) -> None:
        """Enter one line; in nu as one paste (it repaints and asks for the cursor at each key)."""
        if self.shell == "nu":
            self.p.send(f"\x1b[200~{line}\x1b[201~\r")
        else:
            self.p.sendline(line)

    def _wait(self) -> Any:
        self.n += 1
        return self.expect(rf"([^\r\n]*?)<<((?:(?!<<)[^\r\n])*)>>(\d+)#{self.n}> ")

    def run(self, command: str) -> Result:
        if self.shell == "nu" and "\n" in command:
            *first, last = command.split("\n")
            for line in first:
                r = self.run(line)
                if r.status:
                    return r
            command = last
        self.type_line(command)
        m = self._wait()
        # fish marks a line without a final newline with ⏎ and pads it with spaces.
        before = re.sub(r"⏎ *", "", strip_ansi(self.before)).replace("\r", "")
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
        if self.shell == "nu":
            r = self.run(f'print $"<V:({expr})>"')
        else:
            r = self.run(f"printf '<V:%s>\\n' {expr}")
        m = re.search(r"<V:(.*?)>\n", r.output)
        assert m, r.output
        return m.group(1)

    def var(self, name: str) -> str:
        if self.shell == "nu":
            # the integration's own variables are fields of the record $env.__kctx
            if name.startswith("__kctx_"):
                return self.value(f"$env.__kctx?.{name[7:]}? | default ''")
            return self.value(f"$env.{name}? | default ''")
        return self.value(f'"${name}"' if self.shell == "fish" else f'"${{{name}-}}"')

    def export(self, name: str, value: str) -> Result:
        if self.shell == "fish":
            return self.run(f"set -gx {name} '{value}'")
        if self.shell == "nu":
            return self.run(f"$env.{name} = r#'{value}'#")
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



_SPAWN = re.compile(r"\b(clone3?|fork|vfork|execve)\(")


def shell_trace(strace_lines: list[str], start: str, end: str) -> tuple[list[str], list[str]]:
    """What a shell did between its opening of `start` and of `end`, and the processes it started
    there, from the log of `strace -f -e trace=clone,clone3,fork,vfork,execve,openat,open`.

    The shell is the log's first process with its threads (nu evaluates in a thread of its own);
    a clone with CLONE_THREAD is a thread, not a process. Other processes (a background refresh
    that kctx started) do not count.
    """
    own = {strace_lines[0].split()[0]}
    pending: set[str] = set()  # threads of the shell inside an unfinished clone of a thread
    for line in strace_lines:
        tid = line.split()[0]
        if tid not in own:
            continue
        result = re.search(r"= (\d+)$", line)
        if _SPAWN.search(line) and "CLONE_THREAD" in line:
            if result:
                own.add(result[1])
            else:
                pending.add(tid)
        elif tid in pending and "resumed>" in line and result:
            pending.discard(tid)
            own.add(result[1])
    mine = [line for line in strace_lines if line.split()[0] in own]
    i = next(i for i, line in enumerate(mine) if start in line)
    j = next(i for i, line in enumerate(mine) if end in line)
    between = mine[i + 1:j]
    # (a "<... clone resumed>" line never matches _SPAWN: its start line did, with its flags)
    return between, [line for line in between if _SPAWN.search(line) and "CLONE_THREAD" not in line]
