"""What a kubectl command line would really hit, and whether that is protected.

The target is worked out the way kubectl does it: --kubeconfig, else every file of KUBECONFIG
merged (the first file to define a cluster, user or context wins, and the first non-empty
current-context), else ~/.kube/config; then --context, --cluster, -s/--server and -n.

Protection follows the cluster, not the name: a target is protected when the kctx entry it is
has a protected tier, or when its server is the server of any protected entry, or when a
namespace rule (guard.namespace_tiers) gives one of the namespaces it touches a protected tier.
What cannot be resolved (an unreadable kubeconfig, a missing context, a server given on the
command line that is no entry's) counts as protected while anything in the store is.

Fast on kctx's own files: an entry file is described by the store's marshal index and a
session file is JSON read without the json module; other kubeconfigs need YAML.
"""

import os

from kctx import index as idx
from kctx import paths

TYPE_CHECKING = False  # no typing (nor __future__) at run time: each costs every `k`
if TYPE_CHECKING:
    from typing import Any

    from kctx.guard.args import Parsed
else:
    Any = Parsed = object

_DEFAULT_PORTS = {"https": "443", "http": "80"}


def normalise_server(url: str) -> str:
    """A comparable form of a server URL: scheme and host lower-cased, default port explicit,
    no trailing slash. A URL without a scheme is taken as https, as kubectl does with TLS."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "https", url
    scheme = scheme.lower()
    hostport, _slash, path = rest.partition("/")
    hostport = hostport.rpartition("@")[2]  # user info never names another cluster
    if hostport.startswith("["):  # IPv6 literal
        host, _, after = hostport[1:].partition("]")
        host = "[" + host.lower() + "]"
        port = after[1:] if after.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
        host = host.lower().rstrip(".")
    port = port or _DEFAULT_PORTS.get(scheme, "")
    path = path.rstrip("/")
    return f"{scheme}://{host}:{port}" + (f"/{path}" if path else "")


class Unresolved(Exception):
    """kctx cannot tell what kubectl would reach (and kubectl itself would likely fail)."""


def _read_index() -> dict[str, dict[str, Any]]:
    try:
        return idx.hot()
    except idx.Stale:
        from kctx import store

        return store.load_hot_index()


class Doc:
    """What the target needs of one kubeconfig file."""

    __slots__ = ("clusters", "contexts", "current")

    def __init__(self) -> None:
        self.clusters: dict[str, str] = {}  # name -> server
        self.contexts: dict[str, dict[str, str]] = {}  # name -> {cluster, user, namespace}
        self.current = ""


def _from_record(name: str, rec: dict[str, Any]) -> Doc:
    doc = Doc()
    doc.clusters[rec.get("cluster") or ""] = rec.get("server") or ""
    doc.contexts[name] = {"cluster": rec.get("cluster") or "", "user": rec.get("user") or "",
                          "namespace": rec.get("namespace") or ""}
    doc.current = name
    return doc


def _named(items: Any, inner: str, origin: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if items is None:
        return out
    if not isinstance(items, list):
        raise Unresolved(f"{origin}: '{inner}s' is not a list")
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            body = item.get(inner)
            out.setdefault(item["name"], body if isinstance(body, dict) else {})
    return out


def _from_text(text: str, origin: str) -> Doc:
    raw: Any = None
    if text.lstrip().startswith("{"):
        from kctx import minijson

        try:
            raw = minijson.loads(text)
        except ValueError:
            raw = None
    if raw is None:
        import yaml

        try:
            raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            raise Unresolved(f"{origin} is not valid YAML") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise Unresolved(f"{origin} is not a kubeconfig")
    doc = Doc()
    for name, body in _named(raw.get("clusters"), "cluster", origin).items():
        server = body.get("server")
        doc.clusters[name] = server if isinstance(server, str) else ""
    for name, body in _named(raw.get("contexts"), "context", origin).items():
        doc.contexts[name] = {k: v if isinstance(v := body.get(k), str) else ""
                              for k in ("cluster", "user", "namespace")}
    current = raw.get("current-context")
    doc.current = current if isinstance(current, str) else ""
    return doc


def load_file(path: str, index: dict[str, dict[str, Any]] | None) -> Doc:
    """One kubeconfig file; an entry file unchanged since indexing comes from the index."""
    folder, base = os.path.split(os.path.abspath(path))
    if index is not None and base.endswith(".yaml") and folder == os.path.abspath(paths.entries_dir()):
        name = base[:-5]
        rec = index.get(name)
        if rec and not rec.get("error") and rec.get("server"):
            try:
                st = os.stat(path)
                if rec.get("mtime_ns") == st.st_mtime_ns and rec.get("size") == st.st_size:
                    return _from_record(name, rec)
            except OSError:
                pass
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Unresolved(f"cannot read {path}: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unresolved(f"{path} is not UTF-8 text") from None
    return _from_text(text, path)


def kubeconfig_files(explicit: str | None) -> tuple[list[str], bool]:
    """(files in precedence order, explicit?): as kubectl's loading rules pick them."""
    if explicit:
        return [explicit], True
    env = os.environ.get("KUBECONFIG", "")
    if env:
        seen: list[str] = []
        for item in env.split(os.pathsep):
            if item and item not in seen:
                seen.append(item)
        return seen, False
    return [paths.kube_config()], False


def merge(files: list[str], explicit: bool, index: dict[str, dict[str, Any]] | None) -> Doc:
    merged = Doc()
    for path in files:
        if not explicit and not os.path.exists(path):
            continue  # kubectl skips missing files in KUBECONFIG and a missing ~/.kube/config
        doc = load_file(path, index)
        for name, server in doc.clusters.items():
            merged.clusters.setdefault(name, server)
        for name, ctx in doc.contexts.items():
            merged.contexts.setdefault(name, ctx)
        if not merged.current and doc.current:
            merged.current = doc.current
    return merged


def _glob(pattern: str, text: str) -> bool:
    if pattern == "*":
        return True
    from fnmatch import fnmatchcase

    return fnmatchcase(text, pattern)


class Target:
    """The cluster and namespace a command would reach; attributes resolve on first use.

    entry: the kctx entry the target is (or, for another kubeconfig reaching a protected entry's
    server, that entry), else None; confirm: the name to type; tier, protected, reason;
    server (as configured), context, namespace, unresolved (why kctx could not tell), record.
    """

    def __init__(self, p: Parsed, cfg: dict[str, Any] | None = None) -> None:
        self._p = p
        self._cfg = cfg

    def __getattr__(self, name: str) -> Any:
        # Where the command goes is worked out on first use (the kubectl choice needs it for
        # every command); whether that is protected only when a change asks.
        if name.startswith("_"):
            raise AttributeError(name)
        if "server" not in self.__dict__:
            self._resolve_location()
        if name not in self.__dict__ and "protected" not in self.__dict__:
            self._resolve_protection()
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def config(self) -> dict[str, Any]:
        if self._cfg is None:
            from kctx import config

            self._cfg = config.load()
        return self._cfg

    # -- resolution -----------------------------------------------------------------------
    def _resolve_location(self) -> None:
        d = self.__dict__
        d.update(entry=None, server="", context="", namespace="default", unresolved=None, files=[])
        index = _read_index()
        d["index"] = index
        try:
            self._locate(index)
        except Unresolved as e:
            d["unresolved"] = str(e)
        if self._p.doubt and d["unresolved"] is None:
            d["unresolved"] = self._p.doubt

    def _resolve_protection(self) -> None:
        from kctx.guard.verbs import scope

        p, d = self._p, self.__dict__
        d.update(confirm="", tier="none", protected=False, reason="", record=None)
        everywhere, named = scope(p)
        if p.uncertain:
            everywhere = True  # flags kctx did not understand may have moved the namespace
        d["everywhere"] = everywhere
        d["namespaces"] = [d["namespace"], *named]
        self._protect(self.config, d["index"], p.last("server") or "")

    def _locate(self, index: dict[str, dict[str, Any]]) -> None:
        p, d = self._p, self.__dict__
        files, explicit = kubeconfig_files(p.last("kubeconfig"))
        d["files"] = files
        merged = merge(files, explicit, index)
        ctx_name = p.last("context") or merged.current
        d["context"] = ctx_name
        ctx: dict[str, str] = {}
        if ctx_name:
            if ctx_name not in merged.contexts:
                raise Unresolved(f"context {ctx_name!r} is not in {':'.join(files)}")
            ctx = merged.contexts[ctx_name]
        ns = p.last("namespace") or ctx.get("namespace") or "default"
        d["namespace"] = ns
        cluster = p.last("cluster") or ctx.get("cluster") or ""
        server = p.last("server") or ""
        if not server and cluster:
            if cluster not in merged.clusters:
                raise Unresolved(f"cluster {cluster!r} is not in {':'.join(files)}")
            server = merged.clusters[cluster]
        if not server and not merged.contexts and not merged.clusters:
            host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
            if host and port:
                server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        if not server:
            # What kubectl falls back to (client-go still reads KUBERNETES_MASTER for it).
            server = os.environ.get("KUBERNETES_MASTER") or "http://localhost:8080"
        d["server"] = server
        # The kctx entry this is: a context named after an entry that reaches that entry's server
        # (a session file's context, an entry file's, or a user kubeconfig's twin of one).
        rec = index.get(ctx_name) if ctx_name else None
        if rec and normalise_server(rec.get("server") or "") == normalise_server(server):
            d["entry"] = ctx_name

    def _protect(self, cfg: dict[str, Any], index: dict[str, dict[str, Any]], flag_server: str) -> None:
        from kctx.config import is_protected

        d = self.__dict__
        prot = {name: is_protected(cfg, rec.get("tier") or "none") for name, rec in index.items()}
        rules = [r for r in cfg["guard"]["namespace_tiers"] if is_protected(cfg, r["tier"])]
        key = normalise_server(d["server"]) if d["server"] else ""
        same = sorted(n for n, rec in index.items() if key and normalise_server(rec.get("server") or "") == key)
        entry = d["entry"]
        candidates = ([entry] if entry else []) + [n for n in same if n != entry]
        if d["unresolved"] is None and flag_server and not same:
            d["unresolved"] = f"the server {flag_server} given on the command line is no kctx entry's server"
        reasons: list[str] = []
        shown: str | None = None
        rule_tier: str | None = None
        if entry and prot.get(entry):
            reasons.append(f"entry {entry} has the protected tier {index[entry].get('tier')}")
            shown = entry
        for n in same:
            if n != entry and prot.get(n):
                reasons.append(f"its server is the server of the protected entry {n}")
                shown = shown or n
                break
        for rule in rules:
            hit = None
            for n in candidates:
                if not _glob(rule["entry"], n):
                    continue
                if d["everywhere"]:
                    hit = "it may reach any namespace"
                else:
                    names = [ns for ns in d["namespaces"] if _glob(rule["namespace"], ns)]
                    hit = ("namespace " + ", ".join(names)) if names else None
                if hit:
                    reasons.append(f"{hit} of {n}, and namespaces {rule['namespace']} are tier {rule['tier']}")
                    rule_tier = rule["tier"]
                    shown = shown or n
                    break
            if hit:
                break
        if d["unresolved"] is not None and (any(prot.values()) or rules):
            reasons.append(f"kctx cannot tell the target: {d['unresolved']}")
        shown = shown or entry or (same[0] if same else None)
        if rule_tier:
            d["tier"] = rule_tier
        elif shown:
            d["tier"] = index[shown].get("tier") or "none"
        elif d["unresolved"] is not None:
            d["tier"] = "unknown"
        d["protected"] = bool(reasons)
        d["reason"] = "; ".join(reasons)
        d["record"] = index.get(shown) if shown else None
        if shown:
            d["confirm"] = shown
        elif flag_server:
            host = normalise_server(flag_server).split("://", 1)[1].rsplit(":", 1)[0].strip("[]")
            d["confirm"] = host or "unknown"
        else:
            d["confirm"] = d["context"] or "unknown"
