"""nushell: raw-string quoting, and state as a JSON record that the `kctx` command loads with
`load-env` (nu has no eval); a pre_prompt hook and a PROMPT_COMMAND closure (kctx.nu)."""

from __future__ import annotations

from kctx import minijson
from kctx.shell.dialect import Dialect, Op

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# The integration's own variables (__kctx_session, ...) live in one record, $env.__kctx: nu
# passes no record to the programs it starts, so a child shell never sees them.
_OWN = "__kctx_"


class Nu(Dialect):
    name = "nu"
    template = "kctx.nu"
    k_template = "k.nu"  # the `k` function (kctx.guard.fast's shell half)
    load = ('kctx init nu | save -f ($nu.data-dir | path join vendor/autoload/kctx.nu)  '
            'in config.nu (after mkdir of that folder)')
    completion_protocol = "fish"  # the template's completer turns click's fish answers into records
    click_script = False

    def quote(self, value: str) -> str:
        """A raw string, r#'...'#, with one more # than any run of #s after a ' in `value`."""
        hashes = 1
        while "'" + "#" * hashes in value:
            hashes += 1
        return f"r{'#' * hashes}'{value}'{'#' * hashes}"

    def words(self, words: Sequence[str]) -> str:
        return "[" + ", ".join(self.quote(w) for w in words) + "]"

    def pattern(self, words: Sequence[str]) -> str:
        return "[" + " ".join(words) + "]"

    def flags(self, patterns: Sequence[str]) -> str:
        return self.words(patterns)  # a list the template's __kctx_k_is matches against

    def render(self, ops: Sequence[Op]) -> str:
        """{"env": exported variables, "unset": [...], "state": the record's fields (and the
        policy files to watch), "print": lines, "call": functions} as one line of JSON: data,
        never code."""
        doc: dict = {"env": {}, "unset": [], "state": {}, "print": [], "call": []}
        for op in ops:
            kind = op[0]
            if kind == "set":
                _, name, value, _exported = op
                if name.startswith(_OWN):
                    doc["state"][name[len(_OWN):]] = value
                else:
                    doc["env"][name] = value
            elif kind == "unset":
                doc["unset"].append(op[1])
            elif kind == "print":
                doc["print"].append(op[1])
            elif kind == "watch":  # read by the hook's __kctx_tiers_changed
                doc["state"]["tier_files"] = op[1]
                doc["state"]["tiers_stamp"] = op[2]
            else:
                doc["call"].append(op[1])
        return minijson.dumps(doc) + "\n"


DIALECT = Nu()
