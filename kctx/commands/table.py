"""The command table: every kctx command once, read by the click app (kctx.cli), the fast start
(kctx.main) and the shell templates (kctx.commands.init).

For each command: whether the shell integration evaluates its standard output (those commands
print shell code, and everything else they say goes to stderr), whether kctx.main runs its
simple forms without importing click, and what its positional arguments complete to.
Imports nothing: kctx.main reads it on every `kctx use` and every Tab.
"""

ENTRY = "entry"  # one entry name
ENTRIES = "entries"  # entry names, every argument
NAMESPACE = "namespace"  # a namespace used before
TIER = "tier"  # a tier of the config
NOTHING = ""

EVAL = 1  # the shell evaluates stdout
FAST = 2  # kctx.main runs the simple forms itself

# command (a group's subcommand as "group sub") -> (EVAL|FAST flags, what each positional completes)
COMMANDS: dict[str, tuple[int, tuple[str, ...]]] = {
    "import": (0, ()),
    "list": (FAST, ()),
    "show": (0, (ENTRY,)),
    "tier": (0, (ENTRY, TIER)),
    "rm": (0, (ENTRIES,)),
    "rename": (0, (ENTRY, NOTHING)),
    "init": (FAST, ()),
    "use": (EVAL | FAST, (ENTRY,)),
    "ns": (EVAL | FAST, (NAMESPACE,)),
    "off": (EVAL | FAST, ()),
    "_adopt": (EVAL | FAST, ()),
    "_start": (EVAL | FAST, ()),
    "_dir": (EVAL | FAST, ()),
    "current": (0, ()),
    "exec": (0, (ENTRY,)),
    "prompt": (FAST, ()),
    "unlock": (EVAL | FAST, ()),
    "lock": (EVAL | FAST, ()),
    "audit": (0, ()),
    "confirm": (FAST, ()),
    "kubectl": (0, ()),
    "kubectl which": (0, (ENTRY,)),
    "kubectl pin": (0, (ENTRY, NOTHING)),
    "kubectl install": (0, ()),
    "kubectl list": (0, ()),
    "kubectl prune": (0, ()),
    "doctor": (0, ()),
}

# Options whose value completes like an argument, in every command that has them.
OPTIONS = {"-n": NAMESPACE, "--namespace": NAMESPACE, "--entry": ENTRY, "--tier": TIER}

EVALUATED = tuple(name for name, (flags, _) in COMMANDS.items() if flags & EVAL)


def evaluated(argv: list[str]) -> bool:
    """True when the shell integration evaluates what `kctx ARGV` prints."""
    return bool(argv) and argv[0] in EVALUATED


def fast(name: str) -> bool:
    return bool(COMMANDS.get(name, (0,))[0] & FAST)


def completes(command: str, position: int) -> str:
    """What positional argument `position` (from 0) of `command` completes to ('' when nothing)."""
    kinds = COMMANDS.get(command, (0, ()))[1]
    if kinds and kinds[-1] == ENTRIES and position >= len(kinds) - 1:
        return ENTRIES
    return kinds[position] if position < len(kinds) else NOTHING
