"""zsh: POSIX quoting, precmd/zshexit functions, prompt_subst with %-escapes (kctx.zsh)."""

from __future__ import annotations

from kctx.shell.dialect import Dialect

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class Zsh(Dialect):
    name = "zsh"
    template = "kctx.zsh"
    k_template = "k.zsh"  # the `k` function (kctx.guard.fast's shell half)
    load = 'eval "$(kctx init zsh)"  in ~/.zshrc'
    completion_protocol = "zsh"
    kubectl_completion = "zsh"

    def pattern(self, words: Sequence[str]) -> str:
        return "|".join(words)

    def colour(self, on: str, off: str, text: str) -> str:
        return f"%{{{on}%}}{text}%{{{off}%}}"

    def literal(self, text: str) -> str:
        # prompt expansion treats % specially
        return text.replace("%", "%%")

    def completion(self, script: str) -> str:
        # compdef exists only after compinit; without it the script would print an error.
        return f"if (( $+functions[compdef] )); then\n{script}\nfi\n"

    def complete_item(self, value: str, help_: str) -> str:
        return f"plain\n{value.replace(':', chr(92) + ':') if help_ else value}\n{help_ or '_'}"


DIALECT = Zsh()
