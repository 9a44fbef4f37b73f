"""kubectl's preferences file (kuberc): aliases and default flags the guard must see.

A kuberc can give a command default flags (`delete` with `--context=prod` or a namespace) and
define aliases (`prodkill` for `delete --context=prod pod`). kubectl applies them itself, so `k`
runs the command line as typed, but judges it as kubectl will run it: aliases expanded, defaults
added where the command line does not set the flag. A kuberc kctx cannot read makes the target
unknown (protected while anything is).

The file: --kuberc, else $KUBERC, else ~/.kube/kuberc; KUBECTL_KUBERC=false or KUBERC=off
turn the feature off. Parsed YAML is cached as marshal, keyed by the file's stat.
"""

import marshal
import os

from kctx import paths
from kctx.fsutil import read_marshal
from kctx.guard.args import Parsed, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
else:
    Any = object

_CACHE_VERSION = 1


def location(p: Parsed) -> str | None:
    if os.environ.get("KUBECTL_KUBERC", "").lower() == "false":
        return None
    given = p.last("kuberc") or os.environ.get("KUBERC") or ""
    if given.lower() == "off":
        return None
    return given or paths.kuberc()


def _options(items: Any) -> list[tuple[str, str]]:
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and "default" in item:
            out.append((item["name"], str(item["default"]).lower() if isinstance(item["default"], bool)
                        else str(item["default"])))
    return out


def _words(items: Any) -> list[str]:
    return [str(a) for a in items] if isinstance(items, list) else []


def _compile(doc: Any) -> dict[str, Any]:
    """The parts of a kuberc that matter to the guard, as plain data."""
    if not isinstance(doc, dict):
        raise ValueError("not a mapping")  # noqa: TRY004 - bad input, one error type for it
    defaults = []
    for d in doc.get("defaults") or []:
        if isinstance(d, dict) and isinstance(d.get("command"), str):
            defaults.append((" ".join(d["command"].split()), _options(d.get("options"))))
    aliases = {}
    for a in doc.get("aliases") or []:
        if isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("command"), str):
            aliases[a["name"]] = (a["command"].split(), _words(a.get("prependArgs")),
                                  _words(a.get("appendArgs")), _options(a.get("options")))
    return {"defaults": defaults, "aliases": aliases}


def load(path: str) -> dict[str, Any] | None:
    """The compiled kuberc at `path`, None when there is none; ValueError when unreadable."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    stamp = (_CACHE_VERSION, os.path.abspath(path), st.st_mtime_ns, st.st_size, st.st_ino)
    cache = paths.kuberc_cache_file()
    try:
        cached_stamp, compiled = read_marshal(cache)
        if cached_stamp == stamp:
            return compiled  # type: ignore[no-any-return]
    except (OSError, EOFError, ValueError, TypeError):
        pass
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            compiled = _compile(yaml.safe_load(f) or {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as e:
        raise ValueError(f"cannot read the kuberc {path}: {type(e).__name__}") from None
    try:
        from kctx.fsutil import atomic_write

        atomic_write(cache, marshal.dumps((stamp, compiled)), fsync=False)
    except OSError:
        pass
    return compiled


def _with_options(argv: list[str], at: int, options: list[tuple[str, str]], p: Parsed) -> list[str]:
    flags = [f"--{name}={value}" for name, value in options if not p.flags.get(name)]
    return argv[:at] + flags + argv[at:]


def apply(p: Parsed) -> Parsed:
    """`p` as kubectl will run it after its kuberc; `p` itself when no kuberc applies."""
    where = location(p)
    if where is None:
        return p
    try:
        rc = load(where)
    except ValueError as e:
        p.doubt = str(e)
        return p
    if not rc:
        return p
    argv = list(p.argv)
    if not p.path and p.plugin and p.argv[:1] == p.plugin[:1] and p.plugin[0] in rc["aliases"]:
        command, prepend, append, options = rc["aliases"][p.plugin[0]]
        rest = argv[1:]
        dash = rest.index("--") if "--" in rest else len(rest)
        argv = [*command, *prepend, *rest[:dash], *append, *rest[dash:]]
        p = parse(argv)
        argv = _with_options(argv, len(command), options, p)
        p = parse(argv)
    for command, options in rc["defaults"]:
        if command == p.level or _canonical(command) == p.level:
            end = argv.index("--") if "--" in argv else len(argv)
            argv = _with_options(argv, end, options, p)
            p = parse(argv)
    return p


def _canonical(command: str) -> str:
    from kctx.guard.cmdtree import SUBCOMMANDS

    level = ""
    for word in command.split():
        word = SUBCOMMANDS.get(level, {}).get(word, word)
        level = f"{level} {word}" if level else word
    return level
