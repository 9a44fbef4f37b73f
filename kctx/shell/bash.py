"""bash: POSIX quoting, PROMPT_COMMAND and an EXIT trap (kctx.bash)."""

from __future__ import annotations

from kctx.shell.dialect import Dialect


class Bash(Dialect):
    name = "bash"
    template = "kctx.bash"
    k_template = "k.bash"  # the `k` function (kctx.guard.fast's shell half)
    load = 'eval "$(kctx init bash)"  in ~/.bashrc'
    completion_protocol = "bash"
    kubectl_completion = "bash"

    def colour(self, on: str, off: str, text: str) -> str:
        # bash decodes \[ \] before expanding variables, so a variable carries the raw
        # \001/\002 markers that readline understands.
        return f"\x01{on}\x02{text}\x01{off}\x02"


DIALECT = Bash()
