"""fish: its own single quotes, `set -g`, fish_prompt and fish_exit events (kctx.fish)."""

from __future__ import annotations

from kctx.shell.dialect import Dialect, Op

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class Fish(Dialect):
    name = "fish"
    template = "kctx.fish"
    k_template = "k.fish"  # the `k` function (kctx.guard.fast's shell half)
    load = "kctx init fish | source  in ~/.config/fish/config.fish"
    reads_clock = False  # `date` would be a fork: the unlock indicator says until when
    completion_protocol = "fish"
    kubectl_completion = "fish"

    def quote(self, value: str) -> str:
        # In fish single quotes only \\ and \' are escapes.
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def words(self, words: Sequence[str]) -> str:
        return " ".join(self.quote(w) for w in words)

    def pattern(self, words: Sequence[str]) -> str:
        return " ".join(words)

    def flags(self, patterns: Sequence[str]) -> str:
        return " ".join(self.quote(p) for p in patterns)  # fish matches quoted patterns as globs

    def line(self, op: Op) -> str:
        kind = op[0]
        if kind == "set":
            _, name, value, export = op
            return f"set -g{'x' if export else ''} {name} {self.quote(value)}"
        if kind == "unset":
            return f"set -e -g {op[1]}"
        if kind == "print":
            return f"builtin printf '%s\\n' {self.quote(op[1])}"
        if kind == "watch":
            return self.watch(op[1], op[2])
        return op[1]

    def watch(self, files: Sequence[str], stamp: str) -> str:
        if not files:
            return "function __kctx_tiers_changed; return 1; end"
        tests = "; or ".join(f"builtin test {self.quote(f)} -nt {self.quote(stamp)}" for f in files)
        return f"function __kctx_tiers_changed; {tests}; end"

    def complete_item(self, value: str, help_: str) -> str:
        return f"plain,{value}\t{help_}" if help_ else f"plain,{value}"


DIALECT = Fish()
