"""The shells kctx integrates with: per shell one Dialect module here (bash.py, zsh.py, fish.py,
nu.py) and its template beside it (kctx.bash, ...), which `kctx init SHELL` prints.

A Dialect knows how its shell quotes a word, how kctx's state reaches it (the code that the
`kctx` function evaluates, or for nu a record it loads), how a prompt shows colours, and how
completion is wired. Everything else about a shell lives in its template. Adding a shell is
one module, one template and its tests; the commands do not change.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kctx.shell.dialect import Dialect

SHELLS = ("bash", "zsh", "fish", "nu")


def dialect_of(name: str) -> Dialect:
    """The Dialect of shell `name` (one of SHELLS). (Not named `dialect`: importing the submodule
    kctx.shell.dialect would put the module in that name's place.)"""
    if name not in SHELLS:
        raise KeyError(name)
    module = __import__(f"kctx.shell.{name}", fromlist=["DIALECT"])
    return module.DIALECT
