"""Team policy: YAML files, kept in git, that say which clusters are production for everyone.

    rules:
      - tier: prod
        match: {eks_account: "123456789012"}
      - tier: staging
        match: {server: "https://*.staging.example.com*", context: "*-stg-*"}

Files come from the config key `policy: [FILE, ...]` and from KCTX_POLICY (paths separated by
`:`). Every key of a `match` must hold; the first rule that matches an entry gives its tier. A
policy only ever makes an entry more protected: its tier replaces the personal one (import
inference, `--tier`, `kctx tier`) unless the personal tier is protected and the policy's is not.

The policy is read where it is used (`k`, `kctx use`, the prompt refresh, list, show), so a
`git pull` of a policy file takes effect at once, without a re-import. To keep `k` fast the
validated rules are kept in a marshal file stamped with each policy file's stat, and so is the
result of applying them to the index. A file that cannot be read or parsed is reported (file and
line) and its last good rules stay in force: what it protected stays protected.
"""

import marshal
import os

from kctx import config, paths
from kctx.fsutil import read_marshal
from kctx.wildcard import match as _glob

TYPE_CHECKING = False  # no typing (nor __future__) at run time: `k` imports this module
if TYPE_CHECKING:
    from typing import Any
else:
    Any = object

KEYS = ("server", "context", "entry", "eks_account", "eks_region", "gke_project", "ca_sha256")
_VERSION = 1
_HEX = set("0123456789abcdef")


class PolicyError(Exception):
    """A policy file that cannot be used: `str(e)` is one line naming the file and line."""


# -- where the policy is ------------------------------------------------------------------------
def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


# -- reading one file ---------------------------------------------------------------------------
def parse(path: str) -> list[tuple[str, int, str, tuple[tuple[str, str], ...]]]:
    """The rules of one policy file as (file, rule number from 1, tier, ((key, value), ...))."""
    import yaml

    def fail(node: Any, what: str) -> PolicyError:
        line = node.start_mark.line + 1 if node is not None else 1
        return PolicyError(f"{path}:{line}: {what}")

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PolicyError(f"{path}: cannot read the policy file: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: the policy file is not UTF-8 text") from None
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise PolicyError(f"{path}{line}: not valid YAML: {problem}") from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise fail(root, "expected a mapping with 'rules'")
    rules_node = None
    for key, value in root.value:
        if key.value != "rules":
            raise fail(key, f"unknown key {key.value!r} (a policy file has 'rules')")
        rules_node = value
    if rules_node is None or (isinstance(rules_node, yaml.ScalarNode) and rules_node.value in ("", "~", "null")):
        return []
    if not isinstance(rules_node, yaml.SequenceNode):
        raise fail(rules_node, "'rules' must be a list")
    out = []
    for number, rule in enumerate(rules_node.value, start=1):
        where = f"rule {number}"
        if not isinstance(rule, yaml.MappingNode):
            raise fail(rule, f"{where}: expected a mapping with 'tier' and 'match'")
        tier = None
        match: list[tuple[str, str]] | None = None
        for key, value in rule.value:
            if key.value == "tier":
                if not isinstance(value, yaml.ScalarNode) or not value.value \
                        or not value.value.replace("-", "").replace("_", "").isalnum():
                    raise fail(value, f"{where}: 'tier' must be a tier name")
                tier = value.value
            elif key.value == "match":
                match = _match(value, where, fail)
            else:
                raise fail(key, f"{where}: unknown key {key.value!r} (a rule has 'tier' and 'match')")
        if tier is None:
            raise fail(rule, f"{where}: no 'tier'")
        if match is None:
            raise fail(rule, f"{where}: no 'match'")
        out.append((path, number, tier, tuple(match)))
    return out


def _match(node: Any, where: str, fail: Any) -> list[tuple[str, str]]:
    import yaml

    if not isinstance(node, yaml.MappingNode) or not node.value:
        raise fail(node, f"{where}: 'match' must map at least one of {', '.join(KEYS)} to a value")
    out = []
    for key, value in node.value:
        if key.value not in KEYS:
            raise fail(key, f"{where}: unknown match key {key.value!r} (keys: {', '.join(KEYS)})")
        if not isinstance(value, yaml.ScalarNode) or value.value == "":
            raise fail(value, f"{where}: match.{key.value} must be a string")
        text = value.value.strip()
        if key.value == "ca_sha256":
            text = text.lower().replace(":", "").replace(" ", "")
            if len(text) != 64 or not set(text) <= _HEX:
                raise fail(value, f"{where}: match.ca_sha256 must be 64 hex digits (the SHA-256 of "
                                  "the CA certificate's DER)")
        elif key.value == "eks_account" and text.isdigit() and value.style is None:
            text = text.zfill(12)  # an unquoted account id lost its leading zeros as a YAML int
        out.append((key.value, text))
    return out


# -- the compiled policy ------------------------------------------------------------------------
class Compiled:
    """The rules in force, and the errors of the files that could not be read this time."""

    __slots__ = ("errors", "rules", "stamp")

    def __init__(self, rules: list[Any], errors: list[str], stamp: Any) -> None:
        self.rules = rules
        self.errors = errors
        self.stamp = stamp


_EMPTY = Compiled([], [], ())


def load(cfg: dict[str, Any]) -> Compiled:
    """The policy in force: each file's rules as last read, re-read when its stat changed; a file
    that cannot be read now keeps the rules it had when it last could (fail closed)."""
    names = config.policy_files(cfg)
    if not names:
        return _EMPTY
    stamps = [(p, _stat(p)) for p in names]
    cache_path = paths.policy_file()
    cached: dict[str, Any] = {}
    try:
        doc = read_marshal(cache_path)
        if isinstance(doc, dict) and doc.get("version") == _VERSION:
            cached = doc["files"]
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        pass
    rules: list[Any] = []
    errors: list[str] = []
    fresh: dict[str, Any] = {}
    dirty = set(cached) != set(names)
    for path, st in stamps:
        known = cached.get(path)
        if known is not None and known["stamp"] == st and st is not None:
            fresh[path] = known
        else:
            try:
                found, error = parse(path), None
            except PolicyError as e:
                found, error = (known["rules"] if known else []), str(e)
            fresh[path] = {"stamp": st, "rules": found, "error": error}
            dirty = True
        rules += fresh[path]["rules"]
        if fresh[path]["error"]:
            errors.append(fresh[path]["error"])
    if dirty:
        from kctx.fsutil import atomic_write

        try:
            atomic_write(cache_path, marshal.dumps({"version": _VERSION, "files": fresh}), fsync=False)
        except OSError:
            pass  # without the cache the files are read each time, and a broken one has no last good
    return Compiled(rules, errors, tuple(stamps))


def warn(compiled: Compiled, prog: str = "kctx") -> None:
    """One line per policy file that could not be used this time."""
    import sys

    for error in compiled.errors:
        sys.stderr.write(f"{prog}: warning: {error}; its last good rules stay in force\n")


# -- matching -----------------------------------------------------------------------------------
def _value(key: str, name: str, rec: dict[str, Any]) -> str:
    if key == "entry":
        return name
    if key == "context":
        return str(rec.get("context") or name)
    if key == "server":
        return str(rec.get("server") or "")
    if key in rec:
        return str(rec.get(key) or "")
    if key.startswith(("eks_", "gke_")):
        from kctx.names import facts_of

        return facts_of(str(rec.get("context") or name), str(rec.get("cluster") or ""),
                        str(rec.get("server") or "")).get(key, "")
    return ""


def _holds(key: str, want: str, got: str) -> bool:
    if not got:
        return False
    if key == "server":
        return _glob(want, got) or _glob(want, got.lower())
    return _glob(want, got)


def _holds_ca(want: str, rec: dict[str, Any]) -> bool:
    """The rule's CA is the cluster's (or one of the bundle's, when it trusts several)."""
    found = [rec.get("ca_sha256"), *(rec.get("ca_bundle") or [])]
    return any(isinstance(f, str) and f.lower() == want for f in found)


def match(rules: list[Any], name: str, rec: dict[str, Any]) -> tuple[str, str, int] | None:
    """(tier, file, rule number) of the first rule that matches entry `name`, else None."""
    for path, number, tier, keys in rules:
        if all(_holds_ca(want, rec) if key == "ca_sha256" else _holds(key, want, _value(key, name, rec))
               for key, want in keys):
            return tier, path, number
    return None


def protects(cfg: dict[str, Any], tier: str) -> bool:
    """A policy's tier is protected as the configuration says, and when the configuration does
    not know it (a tier the team named and this person's config lacks) it counts as protected."""
    spec = cfg["tiers"].get(tier)
    return bool(spec["protected"]) if spec else True


def resolve(cfg: dict[str, Any], rec: dict[str, Any], hit: tuple[str, str, int] | None) -> tuple[str, bool, dict[str, Any]]:
    """(tier, protected, source) of an entry whose personal tier is rec['tier'], given the rule that
    matched it: the policy's tier, unless that would lower the protection."""
    from kctx.config import is_protected

    tier = str(rec.get("tier") or "none")
    source = rec.get("tier_source") or {"by": "default"}
    mine = is_protected(cfg, tier)
    if hit is None:
        return tier, mine, source
    ptier, path, number = hit
    theirs = protects(cfg, ptier)
    if mine and not theirs:
        return tier, mine, source
    return ptier, theirs or mine, {"by": "policy", "file": path, "rule": number,
                                   "personal": {"tier": tier, **source}}


def because(rec: dict[str, Any]) -> str:
    """' (policy FILE rule N)' when the policy gave this record its tier, else ''."""
    src = rec.get("tier_source") or {}
    return f" (policy {src.get('file')} rule {src.get('rule')})" if src.get("by") == "policy" else ""


def effective(cfg: dict[str, Any], name: str, rec: dict[str, Any], compiled: Compiled | None = None) -> dict[str, Any]:
    """`rec` with the tier in force: tier, tier_protected and tier_source."""
    if compiled is None:
        compiled = load(cfg)
    hit = match(compiled.rules, name, rec) if compiled.rules else None
    tier, protected, source = resolve(cfg, rec, hit)
    return {**rec, "tier": tier, "tier_protected": protected, "tier_source": source}


def apply(cfg: dict[str, Any], index: dict[str, dict[str, Any]], compiled: Compiled | None = None) -> dict[str, dict[str, Any]]:
    """The index with the policy applied (records the policy changes are replaced). What the
    rules decide for each entry is cached, stamped with the policy files and index.bin, so a
    `k` with ten thousand entries does not match every rule against every entry."""
    if compiled is None:
        compiled = load(cfg)
    if not compiled.rules:
        return index
    index_stamp = _stat(paths.hot_index_file())
    stamp = (_VERSION, compiled.stamp, index_stamp, len(index))
    cache_path = paths.policy_tiers_file()
    hits: dict[str, Any] | None = None
    try:
        cached_stamp, cached_hits = read_marshal(cache_path)
        if cached_stamp == stamp:
            hits = cached_hits
    except (OSError, EOFError, ValueError, TypeError):
        pass
    if hits is None:
        hits = {}
        for name, rec in index.items():
            hit = match(compiled.rules, name, rec)
            if hit is not None:
                hits[name] = hit
        if index_stamp is not None:
            from kctx.fsutil import atomic_write

            try:
                atomic_write(cache_path, marshal.dumps((stamp, hits)), fsync=False)
            except OSError:
                pass
    if not hits:
        return index
    out = dict(index)
    for name, hit in hits.items():
        found = out.get(name)
        if found is not None:
            tier, protected, source = resolve(cfg, found, hit)
            out[name] = {**found, "tier": tier, "tier_protected": protected, "tier_source": source}
    return out
