"""Shell code that kctx emits: variable assignments, calls and the prompt segment, for any shell.

What differs between shells (quoting, how the code is written, how a prompt marks colours) is
the shell's Dialect (kctx/shell/); this module holds what they share. Every value that reaches
shell code goes through the dialect's `quote` or `render`. Nothing here imports more than `os`
and the dialect: `kctx use` renders its output on the hot path.
"""

from __future__ import annotations

import os

from kctx.shell import SHELLS, dialect_of

__all__ = ["NS_SLOT", "SHELLS", "Code", "colour", "quote", "segment", "visible"]

# Stands for the namespace in the prompt template the hook fills in when the session file
# changed behind kctx's back (a unit separator: never part of a name, symbol or colour).
NS_SLOT = "\x1f"


def quote(shell: str, value: str) -> str:
    """`value` as one literal word for `shell`."""
    return dialect_of(shell).quote(value)


class Code:
    """State for one shell, built step by step (assignments, unsets, prints and calls only)."""

    def __init__(self, shell: str) -> None:
        self.shell = shell
        self.ops: list[tuple] = []

    def set(self, name: str, value: str | int, export: bool = False) -> Code:
        self.ops.append(("set", name, str(value), export))
        return self

    def unset(self, name: str) -> Code:
        self.ops.append(("unset", name))
        return self

    def call(self, words: str) -> Code:
        """A call of one of the integration's own functions (a fixed word, never user data)."""
        self.ops.append(("call", words))
        return self

    def watch(self, files: list[str], stamp: str) -> Code:
        """The hook asks for the same target again when one of `files` (team policy files) is
        newer than `stamp`; none: it watches nothing (builtin tests only: no fork at prompts)."""
        self.ops.append(("watch", list(files), stamp))
        return self

    def print_line(self, text: str) -> Code:
        """Code that prints `text` on stdout when evaluated (for `kctx ns` and friends)."""
        self.ops.append(("print", text))
        return self

    def text(self) -> str:
        return dialect_of(self.shell).render(self.ops)


def visible(text: str) -> str:
    """Text from files with control characters made visible (they must not reach a terminal)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def prompt_literal(shell: str, text: str) -> str:
    """Literal text inside a prompt of `shell` ("ansi" and "plain": printed by `kctx prompt`)."""
    text = visible(text)
    return dialect_of(shell).literal(text) if shell in SHELLS else text


def colour(shell: str, sgr: str, text: str) -> str:
    """`text` in colour `sgr` (ANSI parameters), marked the way `shell`'s prompt wants; "ansi"
    gives bare escapes, "plain" or an empty sgr no colour at all."""
    if not sgr or shell == "plain" or not text:
        return text
    on, off = f"\x1b[{sgr}m", "\x1b[0m"
    if shell in SHELLS:
        return dialect_of(shell).colour(on, off, text)
    return f"{on}{text}{off}"


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def segment(cfg: dict, shell: str, entry: str, namespace: str, tier: str) -> str:
    """The prompt segment, e.g. '⎈ prod:payments' coloured by tier, for `shell`
    (a shell of SHELLS, ansi or plain). `namespace` may be NS_SLOT, left for the hook to fill."""
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
    return colour(shell, sgr, text)


WARN_SGR = "1;7"  # bold, reverse video: unmistakable whatever the tier colours are


def warning_parts(cfg: dict, shell: str) -> tuple[str, str]:
    """What goes before and after a drift reason in the prompt ('⎈ ⚠ KUBECONFIG changed')."""
    head = prompt_literal(shell, cfg["prompt"]["symbol"]) + "⚠ "
    if no_color():
        return head, ""
    whole = colour(shell, WARN_SGR, head + NS_SLOT)
    before, _, after = whole.partition(NS_SLOT)
    return before, after


def guarded_indicator(cfg: dict, shell: str) -> str:
    """Shown after the segment while this shell's API guard is up (" guard down" when it is not)."""
    return prompt_literal(shell, cfg["prompt"].get("guarded", " guarded"))


def unlocked_indicator(cfg: dict, shell: str, until: float) -> str:
    """Shown after the segment while this shell is unlocked. A shell whose hook cannot read
    the clock without forking says until when."""
    text = cfg["prompt"].get("unlocked", " unlocked")
    if shell in SHELLS and not dialect_of(shell).reads_clock:
        import time

        text += time.strftime(" until %H:%M", time.localtime(until))
        return text
    return prompt_literal(shell, text)
