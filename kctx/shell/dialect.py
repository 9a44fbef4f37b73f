"""What every shell has to say for itself, with the POSIX-shell answers as defaults."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# One piece of state for the shell: ("set", name, value, export), ("unset", name),
# ("watch", policy files, stamp), ("call", function) or ("print", text).
Op = tuple


class Dialect:
    name = ""
    template = ""  # the template's file name in this package
    k_template = ""  # the template of the `k` function ("": `k` is the command)
    load = ""  # how a user loads the integration, for the hint of `kctx use` without it
    reads_clock = True  # the prompt hook can tell when an unlock expired without forking
    completion_protocol = ""  # click's completion protocol the shell speaks (_KCTX_COMPLETE)
    kubectl_completion = ""  # the shell `kubectl completion SHELL` gives a script for ("": none)
    click_script = True  # `kctx init` appends click's completion script (else: in the template)

    def quote(self, value: str) -> str:
        """`value` as one literal word."""
        return "'" + value.replace("'", "'\\''") + "'"

    def words(self, words: Sequence[str]) -> str:
        """A list of literal words, as the template assigns it (the command that starts kctx)."""
        return "(" + " ".join(self.quote(w) for w in words) + ")"

    def pattern(self, words: Sequence[str]) -> str:
        """Fixed words (never user data) as the template matches one of them (a `case` branch)."""
        return " | ".join(words)

    def flags(self, patterns: Sequence[str]) -> str:
        """Glob patterns of flag names (kctx.guard.fast.shell_rules: letters, `-`, `=`, a last
        `*`) as the `k` function matches an argument against them; bare in a `case` branch,
        where quotes would make `*` literal."""
        return "|".join(patterns)

    def render(self, ops: Sequence[Op]) -> str:
        """The text the integration's `kctx` function evaluates to apply `ops`."""
        return "".join(self.line(op) + "\n" for op in ops)

    def line(self, op: Op) -> str:
        kind = op[0]
        if kind == "set":
            _, name, value, export = op
            prefix = "\\builtin export " if export else ""
            return f"{prefix}{name}={self.quote(value)}"
        if kind == "unset":
            return f"\\builtin unset {op[1]}"
        if kind == "print":
            return f"\\builtin printf '%s\\n' {self.quote(op[1])}"
        if kind == "watch":
            return self.watch(op[1], op[2])
        return op[1]  # a call of one of the integration's own functions

    def watch(self, files: Sequence[str], stamp: str) -> str:
        """The hook's `__kctx_tiers_changed`: true when one of `files` is newer than `stamp`."""
        if not files:
            return "__kctx_tiers_changed() { \\builtin return 1; }"
        tests = " || ".join(f"{self.quote(f)} -nt {self.quote(stamp)}" for f in files)
        return f"__kctx_tiers_changed() {{ [[ {tests} ]]; }}"

    def colour(self, on: str, off: str, text: str) -> str:
        """`text` between colour escapes, marked so that the line editor counts widths right."""
        return f"{on}{text}{off}"

    def literal(self, text: str) -> str:
        """Text shown literally in the prompt (made visible already)."""
        return text

    def completion(self, script: str) -> str:
        """click's completion script for this shell, ready to load."""
        return script

    def complete_item(self, value: str, help_: str) -> str:
        """One completion answer in click's format for `completion_protocol`."""
        return f"plain,{value}"
