"""The user's configuration file (YAML), validated once and cached in a compiled form.

The hot paths (`k`, `kctx use`) call `load()`, which reads a marshal snapshot of the validated
settings and parses the YAML only when the file changed since the snapshot was made.
"""

from __future__ import annotations

import marshal
import os

from kctx import paths
from kctx.errors import FatalError
from kctx.fsutil import read_marshal

# typing costs ~13 ms to import on a slow machine, more than half of what `kctx use` may take.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

COLORS = {
    "black": 30, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36,
    "white": 37, "gray": 90, "grey": 90, "bright-red": 91, "bright-green": 92,
    "bright-yellow": 93, "bright-blue": 94, "bright-magenta": 95, "bright-cyan": 96,
    "bright-white": 97, "default": 39,
}

DEFAULT_TIERS: dict[str, dict[str, Any]] = {
    "prod": {"color": "bold red", "protected": True},
    "staging": {"color": "yellow", "protected": False},
    "dev": {"color": "green", "protected": False},
    "none": {"color": "default", "protected": False},
}

DEFAULTS: dict[str, Any] = {
    "tiers": DEFAULT_TIERS,
    "policy": [],  # team policy files (kctx.policy)
    "prompt": {
        "symbol": "⎈ ",
        "format": "{symbol}{entry}:{namespace}",
        "unlocked": " 🔓",
        "guarded": " guarded",  # after the segment while this shell's API guard is up ("" for none)
    },
    "guard": {
        "ask": [],  # extra verbs (or "verb sub") that always ask on protected targets
        "allow": [],  # extra verbs that never ask
        "port_forward": True,  # port-forward asks on protected targets
        "proxy": True,  # proxy asks on protected targets
        "namespace_tiers": [],  # [{"entry": glob, "namespace": glob, "tier": name}]
        "diff": True,  # show what would change before asking for apply/replace/patch/delete -f
        "api": True,  # every client of a protected shell goes through the API guard (kctx.apiguard)
    },
    "shell": {
        "start": "none",  # what a new shell (that inherited no target) targets: none, or last (kctx use)
        "directories": False,  # a folder's .kctx file chooses the target when the shell enters it
    },
    "kubectl": {
        "mirror": "https://dl.k8s.io",
        "version_ttl": 86400,
        "probe_timeout": 3.0,
        "download_timeout": 5.0,  # seconds without progress before a download is given up
        "download": "auto",  # auto: a kubectl here that fits is used; always: kctx's own copies; never
    },
}

_VERSION = 5  # bump when the compiled form changes shape
DOWNLOAD_MODES = ("auto", "always", "never")
START_MODES = ("none", "last")


def sgr(color: str) -> str:
    """ANSI SGR parameters for a colour spec: 'red', 'bold red', '208', '#ff8800', ''."""
    parts: list[str] = []
    for word in color.lower().split():
        if word == "bold":
            parts.append("1")
        elif word in ("underline", "underlined"):
            parts.append("4")
        elif word in ("reverse", "inverse"):
            parts.append("7")
        elif word in COLORS:
            parts.append(str(COLORS[word]))
        elif word.isdigit() and int(word) < 256:
            parts.append(f"38;5;{word}")
        elif word.startswith("#") and len(word) == 7 and all(c in "0123456789abcdef" for c in word[1:]):
            r, g, b = (int(word[i : i + 2], 16) for i in (1, 3, 5))
            parts.append(f"38;2;{r};{g};{b}")
        else:
            raise ValueError(f"unknown colour {word!r}")
    return ";".join(parts)


def _fail(where: str, what: str) -> FatalError:
    return FatalError(f"{paths.config_file()}: {where}: {what}", hint="see 'Configuration' in the README")


def _merge(raw: Any) -> dict[str, Any]:
    """Validate the user's YAML document and merge it over the defaults."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail("top level", "expected a mapping")
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise _fail(min(unknown), "unknown setting")
    cfg: dict[str, Any] = {k: dict(v) for k, v in DEFAULTS.items() if isinstance(v, dict)}
    cfg["tiers"] = {k: dict(v) for k, v in DEFAULT_TIERS.items()}
    cfg["policy"] = _policy_files(raw.get("policy"))

    tiers = raw.get("tiers") or {}
    if not isinstance(tiers, dict):
        raise _fail("tiers", "expected a mapping of tier name to settings")
    for name, spec in tiers.items():
        name = str(name)
        if not name.replace("-", "").replace("_", "").isalnum():
            raise _fail(f"tiers.{name}", "tier names are letters, digits, '-' and '_'")
        spec = spec or {}
        if not isinstance(spec, dict):
            raise _fail(f"tiers.{name}", "expected a mapping with color and protected")
        tier = dict(cfg["tiers"].get(name, {"color": "default", "protected": False}))
        for key, value in spec.items():
            if key == "color":
                try:
                    sgr(str(value))
                except ValueError as e:
                    raise _fail(f"tiers.{name}.color", str(e)) from None
                tier["color"] = str(value)
            elif key == "protected":
                if not isinstance(value, bool):
                    raise _fail(f"tiers.{name}.protected", "expected true or false")
                tier["protected"] = value
            elif key == "words":
                tier["words"] = _words(f"tiers.{name}.words", value)
            else:
                raise _fail(f"tiers.{name}.{key}", "unknown setting")
        cfg["tiers"][name] = tier

    for section in ("prompt", "guard", "shell", "kubectl"):
        given = raw.get(section) or {}
        if not isinstance(given, dict):
            raise _fail(section, "expected a mapping")
        for key, value in given.items():
            if key not in DEFAULTS[section]:
                raise _fail(f"{section}.{key}", "unknown setting")
            default = DEFAULTS[section][key]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise _fail(f"{section}.{key}", "expected true or false")
            elif isinstance(default, list):
                if not isinstance(value, list):
                    raise _fail(f"{section}.{key}", "expected a list")
            elif isinstance(default, (int, float)):
                value = _number(f"{section}.{key}", value)
            else:
                value = str(value)
            cfg[section][key] = value

    if cfg["shell"]["start"] not in START_MODES:
        raise _fail("shell.start", f"expected one of {', '.join(START_MODES)}")
    if cfg["kubectl"]["download"] not in DOWNLOAD_MODES:
        raise _fail("kubectl.download", f"expected one of {', '.join(DOWNLOAD_MODES)}")
    fmt = cfg["prompt"]["format"]
    try:
        fmt.format(symbol="", entry="", namespace="", tier="")
    except (KeyError, IndexError, ValueError):
        raise _fail("prompt.format", "use only {symbol}, {entry}, {namespace} and {tier}") from None
    for i, rule in enumerate(cfg["guard"]["namespace_tiers"]):
        if not isinstance(rule, dict) or not {"namespace", "tier"} <= set(rule):
            raise _fail(f"guard.namespace_tiers[{i}]", "expected {entry: GLOB, namespace: GLOB, tier: NAME}")
        if str(rule["tier"]) not in cfg["tiers"]:
            raise _fail(f"guard.namespace_tiers[{i}].tier", f"unknown tier {rule['tier']!r}")
        cfg["guard"]["namespace_tiers"][i] = {
            "entry": str(rule.get("entry", "*")), "namespace": str(rule["namespace"]), "tier": str(rule["tier"])}
    return cfg


def _words(where: str, value: Any) -> list[str]:
    """Words a tier is inferred from: `prod`, `pre-prod` (two words in a row), `k3d`."""
    if not isinstance(value, list):
        raise _fail(where, "expected a list of words")
    out = []
    for word in value:
        text = str(word).strip().lower() if isinstance(word, (str, int)) and not isinstance(word, bool) else ""
        if not text or not text.replace("-", "").replace("_", "").replace(".", "").isalnum() or not text.isascii():
            raise _fail(where, f"{word!r} is not a word (letters and digits, '-' between words)")
        out.append(text)
    return out


def policy_files(cfg: dict[str, Any]) -> list[str]:
    """The team policy files in force (kctx.policy reads them): the config's `policy` list, then
    KCTX_POLICY's. Here, so that `kctx use` learns there are none without importing kctx.policy."""
    out: list[str] = []
    for path in [*(cfg.get("policy") or []), *os.environ.get("KCTX_POLICY", "").split(":")]:
        if path:
            path = os.path.abspath(os.path.expanduser(path))
            if path not in out:
                out.append(path)
    return out


def tier_files(cfg: dict[str, Any]) -> list[str]:
    """The files that decide an entry's tier in force and whether it is guarded: this
    configuration (tiers, guard), the store's index (its hot copy, written last: personal tiers,
    servers) and the team policy files. A shell's prompt hook and the API guard take their entry
    again when one of them changes."""
    return [paths.config_file(), paths.hot_index_file(), *policy_files(cfg)]


def _policy_files(value: Any) -> list[str]:
    """policy: FILE or [FILE, ...]; relative paths are relative to the config file's folder."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail("policy", "expected a list of policy file paths")
    base = os.path.dirname(os.path.abspath(paths.config_file()))
    return [os.path.join(base, os.path.expanduser(v)) for v in value]


def _number(where: str, value: Any) -> float:
    """Numbers, or durations such as 30s, 15m, 12h, 1d."""
    if isinstance(value, bool):
        raise _fail(where, "expected a number or a duration")
    if isinstance(value, (int, float)):
        return value
    try:
        return parse_duration(str(value))
    except ValueError as e:
        raise _fail(where, str(e)) from None


def parse_duration(text: str) -> int:
    """'90' → 90, '15m' → 900, '1h30m' → 5400, '1d' → 86400 (seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    total, number = 0, ""
    for ch in text:
        if ch.isdigit():
            number += ch
        elif ch in units and number:
            total += int(number) * units[ch]
            number = ""
        else:
            raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 1d)")
    if number or not text:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 1d)")
    return total


def _read_yaml(path: str) -> Any:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "parse error"
        raise _fail(where, "not valid YAML") from None
    except UnicodeDecodeError:
        raise _fail("encoding", "not UTF-8 text") from None
    except OSError as e:
        raise FatalError(f"cannot read {path}: {e.strerror}") from None


def load() -> dict[str, Any]:
    """The validated configuration: the defaults when there is no config file."""
    path = paths.config_file()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return _merge(None)
    except OSError as e:
        raise FatalError(f"cannot read {path}: {e.strerror}") from None
    stamp = (_VERSION, path, st.st_mtime_ns, st.st_size, st.st_ino)
    compiled = paths.compiled_config_file()
    try:
        cached_stamp, cfg = read_marshal(compiled)
        if cached_stamp == stamp:
            return cfg
    except (OSError, EOFError, ValueError, TypeError):
        pass
    cfg = _merge(_read_yaml(path))
    try:
        from kctx.fsutil import atomic_write

        atomic_write(compiled, marshal.dumps((stamp, cfg)), fsync=False)
    except OSError:
        pass  # a read-only cache only costs speed
    return cfg


def is_protected(cfg: dict[str, Any], tier: str) -> bool:
    spec = cfg["tiers"].get(tier)
    # An entry whose tier was removed from the config stays protected if it was named like one.
    return bool(spec["protected"]) if spec else tier == "prod"


def tier_color(cfg: dict[str, Any], tier: str) -> str:
    """SGR parameters of the tier's colour ('' for the terminal's default)."""
    spec = cfg["tiers"].get(tier)
    return sgr(spec["color"]) if spec else ""
