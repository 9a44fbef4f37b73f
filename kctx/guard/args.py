"""kubectl's command line read the way kubectl reads it: cobra finds the command, pflag the flags.

Both steps need to know which flags take a value (`-n get delete pod x` deletes in namespace
`get`), so they use the table generated from kubectl's own help (cmdtree.py). A flag the table
does not know makes the parse `uncertain`: another kubectl version may read it differently, and
the guard then trusts nothing that would make a command look harmless.
"""

from kctx.guard.cmdtree import NOVALUE, SHORTS, SUBCOMMANDS, VALUE

GLOBAL_SHORTS = SHORTS[""]
# cobra's hidden completion commands: flags are not parsed, everything is an argument.
NO_FLAG_PARSING = ("__complete", "__completeNoDesc")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(value: str) -> bool | None:
    """Go's strconv.ParseBool: None when kubectl would reject the value."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def _norm(name: str) -> str:
    # kubectl normalises flag names: --dry_run is --dry-run.
    return name.replace("_", "-") if "_" in name else name


def kind(level: str, name: str, find: bool = False) -> str | None:
    """How flag `name` of the command at `level` takes a value: "b" never (bool), "o" optionally,
    "v" always; None when kubectl has no such flag. A command's own flags shadow global ones."""
    for where in (level, "") if level else ("",):
        novalue = NOVALUE.get(where)
        if novalue is None:
            continue
        key = f" {name} "
        if key in novalue:
            found = "b"
        elif f" {name}? " in novalue:
            found = "o"
        elif key in VALUE[where]:
            found = "v"
        else:
            continue
        # While cobra looks for the command, the help flag does not exist yet.
        return None if (find and name == "help" and not where) else found
    return None


def _short(level: str, char: str, find: bool = False) -> str | None:
    local = SHORTS.get(level)
    long = local.get(char) if local else None
    if long is None:
        long = GLOBAL_SHORTS.get(char)
        if find and char == "h":
            return None
    return long


def _first_word(args: list[str], level: str) -> int:
    """Index of the first word cobra takes as a subcommand name (its stripFlags), or -1."""
    i, n = 0, len(args)
    while i < n:
        s = args[i]
        if s == "--":
            return -1
        if s[:2] == "--" and "=" not in s:
            if kind(level, _norm(s[2:]), True) not in ("b", "o"):
                i += 2
                continue
        elif s[:1] == "-" and len(s) == 2:
            long = _short(level, s[1], True)
            if long is None or kind(level, long, True) not in ("b", "o"):
                i += 2
                continue
        elif s and s[0] != "-":
            return i
        i += 1
    return -1


class Parsed:
    """The command path, flags and arguments of one kubectl command line."""

    __slots__ = (
        "args",
        "argv",
        "dash",
        "doubt",
        "errors",
        "flags",
        "level",
        "path",
        "plugin",
        "spans",
        "unknown",
        "word_at",
    )

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.path: tuple[str, ...] = ()  # canonical command words: ("rollout", "restart")
        self.level = ""  # the same, joined by spaces: the key of the flag table
        self.word_at: list[int] = []  # where the command words are in argv
        self.flags: dict[str, list[str]] = {}  # long name -> values in order (bools as "true"/"false")
        self.spans: list[tuple[int, int, str, str]] = []  # (first token, end, long name, value)
        self.args: list[str] = []  # positional arguments, command words excluded
        self.dash: list[str] | None = None  # what follows "--"
        self.plugin: list[str] = []  # words of an unknown command (plugin candidate)
        self.unknown: list[str] = []  # flags the table does not know
        self.errors: list[str] = []  # what kubectl would reject (missing value, bad bool)
        self.doubt: str | None = None  # why kctx cannot tell what kubectl will make of this line

    def last(self, name: str) -> str | None:
        values = self.flags.get(name)
        return values[-1] if values else None

    def true(self, name: str) -> bool:
        """A bool flag's final value (pflag: the last occurrence wins)."""
        value = self.last(name)
        return value is not None and parse_bool(value) is True

    @property
    def uncertain(self) -> bool:
        return bool(self.unknown or self.errors or self.doubt)

    def has_flag(self, name: str) -> bool:
        """Whether the found command defines flag `name` (locally or globally)."""
        return kind(self.level, name) is not None

    def rebuild(self, words: list[str], keep: str | None = None, drop: tuple[str, ...] = (),
                extra: list[str] | None = None, positional: bool = True) -> list[str]:
        """A command line for command `words` with this one's flags (only those the command `keep`
        also has, none in `drop`), its arguments, then `extra`; never what follows --."""
        out = list(words)
        for _, _, name, value in self.spans:
            if name in drop or (keep is not None and kind(keep, name) is None):
                continue
            bare = value == "" and kind(self.level, name) == "o"
            out.append(f"--{name}" if bare else f"--{name}={value}")
        if positional:
            out.extend(self.args)
        out.extend(extra or [])
        return out


def parse(argv: list[str]) -> Parsed:
    p = Parsed(argv)
    # 1. cobra's Find: walk down the tree by the first non-flag word at each level.
    idx = list(range(len(argv)))  # positions in argv of what is still unconsumed
    rest = list(argv)
    level = ""
    while True:
        subs = SUBCOMMANDS.get(level)
        if subs is None and level:
            break
        i = _first_word(rest, level)
        if i < 0:
            break
        word = rest[i]
        if not level and word in NO_FLAG_PARSING:
            p.path, p.level = (word,), word
            p.word_at.append(idx[i])
            p.args = rest[:i] + rest[i + 1:]
            return p
        canonical = subs.get(word) if subs else None
        if canonical is None:
            if not level:
                # kubectl looks for a plugin named after the non-flag words: kubectl-foo-bar.
                for w in argv:
                    if w[:1] == "-":
                        break
                    p.plugin.append(w)
            break
        p.word_at.append(idx[i])
        del rest[i], idx[i]
        level = f"{level} {canonical}" if level else canonical
        p.path += (canonical,)
    p.level = level
    # 2. pflag: parse every remaining token with the found command's flags.
    i, n = 0, len(rest)
    while i < n:
        s = rest[i]
        start = idx[i]
        i += 1
        if len(s) < 2 or s[0] != "-":
            p.args.append(s)
            continue
        if s == "--":
            p.dash = rest[i:]
            break
        if s[1] == "-":
            name, eq, value = s[2:].partition("=")
            name = _norm(name)
            how = kind(level, name)
            if how is None:
                if name == "help":  # pflag: an undefined --help still means help
                    how = "b"
                else:
                    p.unknown.append(s)
                    # As cobra would guess: a value follows unless given with '='.
                    if not eq and i < n:
                        i += 1
                    continue
            if eq:
                pass
            elif how == "b":
                value = "true"
            elif how == "o":
                value = ""  # NoOptDefVal: kubectl's own default for the bare flag
            elif i < n:
                value = rest[i]
                i += 1
            else:
                p.errors.append(f"flag needs an argument: {s}")
                continue
            if how == "b" and parse_bool(value) is None:
                p.errors.append(f"invalid value for {s}")
            p.flags.setdefault(name, []).append(value)
            p.spans.append((start, idx[i - 1] + 1, name, value))
            continue
        # Short flags, possibly combined: -it, -nfoo, -n=foo, -n foo.
        shorts = s[1:]
        while shorts:
            char = shorts[0]
            long = _short(level, char)
            if long is None:
                if char == "h":
                    long = "help"
                else:
                    p.unknown.append(s)
                    break
            how = kind(level, long) or "b"
            if len(shorts) > 2 and shorts[1] == "=":
                value, shorts = shorts[2:], ""
            elif how in ("b", "o"):
                value, shorts = ("true" if how == "b" else ""), shorts[1:]
            elif len(shorts) > 1:
                value, shorts = shorts[1:], ""
            elif i < n:
                value, shorts = rest[i], ""
                i += 1
            else:
                p.errors.append(f"flag needs an argument: -{char}")
                break
            if how == "b" and parse_bool(value) is None:
                p.errors.append(f"invalid value for -{char}")
            p.flags.setdefault(long, []).append(value)
            p.spans.append((start, idx[i - 1] + 1, long, value))
    return p
