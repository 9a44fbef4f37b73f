"""Shell code that kctx emits: quoting per shell, variable assignments, the prompt segment.

Every value that reaches shell code goes through `quote`. Nothing here imports more than `os`:
`kctx use` renders its output on the hot path.
"""

from __future__ import annotations

import os

SHELLS = ("bash", "zsh", "fish")

# Stands for the namespace in the prompt template the hook fills in when the session file
# changed behind kctx's back (a unit separator: never part of a name, symbol or colour).
NS_SLOT = "\x1f"


def quote(shell: str, value: str) -> str:
    """`value` as one literal word for `shell`."""
    if shell == "fish":
        # In fish single quotes only \\ and \' are escapes.
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + value.replace("'", "'\\''") + "'"


class Code:
    """Shell code for one shell, built line by line (assignments and calls only)."""

    def __init__(self, shell: str) -> None:
        self.shell = shell
        self.lines: list[str] = []

    def set(self, name: str, value: str | int, export: bool = False) -> Code:
        v = quote(self.shell, str(value))
        if self.shell == "fish":
            self.lines.append(f"set -g{'x' if export else ''} {name} {v}")
        else:
            prefix = "\\builtin export " if export else ""
            self.lines.append(f"{prefix}{name}={v}")
        return self

    def unset(self, name: str) -> Code:
        if self.shell == "fish":
            self.lines.append(f"set -e -g {name}")
        else:
            self.lines.append(f"\\builtin unset {name}")
        return self

    def call(self, words: str) -> Code:
        """A call of one of the integration's own functions (a fixed word, never user data)."""
        self.lines.append(words)
        return self

    def print_line(self, text: str) -> Code:
        """Code that prints `text` on stdout when evaluated (for `kctx ns` and friends)."""
        if self.shell == "fish":
            self.lines.append(f"builtin printf '%s\\n' {quote('fish', text)}")
        else:
            self.lines.append(f"\\builtin printf '%s\\n' {quote(self.shell, text)}")
        return self

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def policy_watch(shell: str, files: list[str], stamp: str) -> str:
    """The definition of the hook's `__kctx_policy_changed`: true when one of the team policy
    files is newer than this shell's stamp (builtin tests only: the prompt never forks for it)."""
    if shell == "fish":
        if not files:
            return "function __kctx_policy_changed; return 1; end"
        tests = "; or ".join(f"builtin test {quote(shell, f)} -nt {quote(shell, stamp)}" for f in files)
        return f"function __kctx_policy_changed; {tests}; end"
    if not files:
        return "__kctx_policy_changed() { \\builtin return 1; }"
    tests = " || ".join(f"{quote(shell, f)} -nt {quote(shell, stamp)}" for f in files)
    return f"__kctx_policy_changed() {{ [[ {tests} ]]; }}"


def visible(text: str) -> str:
    """Text from files with control characters made visible (they must not reach a terminal)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def prompt_literal(shell: str, text: str) -> str:
    """Literal text inside a prompt: zsh's prompt expansion treats % specially."""
    text = visible(text)
    return text.replace("%", "%%") if shell == "zsh" else text


def colour(shell: str, sgr: str, text: str) -> str:
    """`text` in colour `sgr` (ANSI parameters); escapes wrapped so the shell counts widths right.

    bash decodes \\[ \\] before expanding variables, so a variable must carry the raw \\001/\\002
    markers readline understands; zsh wants %{ %}. `shell` "ansi" gives bare escapes, "plain"
    or an empty sgr no colour at all.
    """
    if not sgr or shell == "plain" or not text:
        return text
    on, off = f"\x1b[{sgr}m", "\x1b[0m"
    if shell == "bash":
        return f"\x01{on}\x02{text}\x01{off}\x02"
    if shell == "zsh":
        return f"%{{{on}%}}{text}%{{{off}%}}"
    return f"{on}{text}{off}"


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def segment(cfg: dict, shell: str, entry: str, namespace: str, tier: str) -> str:
    """The prompt segment, e.g. '⎈ prod:payments' coloured by tier, for `shell`
    (bash, zsh, fish, ansi or plain). `namespace` may be NS_SLOT, left for the hook to fill."""
    from kctx import config

    p = cfg["prompt"]
    def lit(text: str) -> str:
        return prompt_literal(shell, text)

    ns = namespace if namespace == NS_SLOT else lit(namespace)
    text = p["format"].format(symbol=lit(p["symbol"]), entry=lit(entry), namespace=ns, tier=lit(tier))
    try:
        sgr = "" if no_color() else config.tier_color(cfg, tier)
    except ValueError:
        sgr = ""
    return colour("ansi" if shell == "fish" else shell, sgr, text)


WARN_SGR = "1;7"  # bold, reverse video: unmistakable whatever the tier colours are


def warning_parts(cfg: dict, shell: str) -> tuple[str, str]:
    """What goes before and after a drift reason in the prompt ('⎈ ⚠ KUBECONFIG changed')."""
    head = prompt_literal(shell, cfg["prompt"]["symbol"]) + "⚠ "
    if no_color():
        return head, ""
    whole = colour("ansi" if shell == "fish" else shell, WARN_SGR, head + NS_SLOT)
    before, _, after = whole.partition(NS_SLOT)
    return before, after


def unlocked_indicator(cfg: dict, shell: str, until: float) -> str:
    """Shown after the segment while this shell is unlocked. fish cannot read the clock
    without forking, so it says until when."""
    text = cfg["prompt"].get("unlocked", " unlocked")
    if shell == "fish":
        import time

        text += time.strftime(" until %H:%M", time.localtime(until))
        return text
    return prompt_literal(shell, text)
