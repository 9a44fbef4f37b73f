"""What a kubectl command line would really hit, and whether that is protected.

The target is worked out the way kubectl does it: --kubeconfig, else every file of KUBECONFIG
merged (the first file to define a cluster, user or context wins, and the first non-empty
current-context), else ~/.kube/config; then --context, --cluster, -s/--server and -n.

Protection follows the cluster's identity, not its name nor the spelling of its address: a
target is protected when the kctx entry it is has a protected tier, or when it is the cluster
of a protected entry by any of (kctx.identity):
- its server URL, normalised, equals the entry's;
- its host and port resolve to an address and port of the entry's server (same path);
- it trusts a CA certificate the entry trusts (unless its address says it is an unprotected
  entry that trusts that CA too: a CA shared by several clusters tells them apart by nothing);
or when a namespace rule (guard.namespace_tiers) gives one of the namespaces it touches a
protected tier. What cannot be resolved (an unreadable kubeconfig, a missing context, a server
given on the command line that is no entry's, a host name whose lookup fails or takes longer
than its budget) counts as protected while anything in the store is.

Fast on kctx's own files: an entry file is described by the store's marshal index (server, CA
fingerprint) and a session file is JSON read without the json module; other kubeconfigs need
YAML. Host names are looked up only when a protected entry listens on the same port, and a
cached answer is never looked up again while it is fresh.
"""

import os

from kctx import index as idx
from kctx import paths
from kctx.identity import normalise_server, server_parts
from kctx.wildcard import match as _glob

TYPE_CHECKING = False  # no typing (nor __future__) at run time: each costs every `k`
if TYPE_CHECKING:
    from typing import Any

    from kctx.guard.args import Parsed
else:
    Any = Parsed = object

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

    __slots__ = ("cas", "clusters", "contexts", "current")

    def __init__(self) -> None:
        self.clusters: dict[str, str] = {}  # name -> server
        # name -> CA fingerprints (from the index), or (cluster body, folder of its file) to
        # fingerprint when the target needs them
        self.cas: dict[str, Any] = {}
        self.contexts: dict[str, dict[str, str]] = {}  # name -> {cluster, user, namespace}
        self.current = ""


def record_cas(rec: dict[str, Any]) -> tuple[str, ...]:
    """The CA fingerprints an index record keeps: the bundle's, else the one ca_sha256."""
    bundle = rec.get("ca_bundle")
    if bundle:
        return tuple(bundle)
    return (rec["ca_sha256"],) if rec.get("ca_sha256") else ()


def _from_record(name: str, rec: dict[str, Any]) -> Doc:
    doc = Doc()
    doc.clusters[rec.get("cluster") or ""] = rec.get("server") or ""
    doc.cas[rec.get("cluster") or ""] = record_cas(rec)
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


def _from_text(text: str, origin: str, base: str = "") -> Doc:
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
        doc.cas[name] = (body, base)
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
        if rec and not rec.get("error") and rec.get("server") and "server_key" in rec:
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
    return _from_text(text, path, os.path.dirname(os.path.abspath(path)))


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
            if name not in merged.clusters:
                merged.clusters[name] = server
                merged.cas[name] = doc.cas.get(name, ())
        for name, ctx in doc.contexts.items():
            merged.contexts.setdefault(name, ctx)
        if not merged.current and doc.current:
            merged.current = doc.current
    return merged


class Target:
    """The cluster and namespace a command would reach; attributes resolve on first use.

    entry: the kctx entry the target is (or, for another kubeconfig reaching a protected entry's
    server, that entry), else None; confirm: the name to type; tier, protected, reason;
    server (as configured), context, namespace, unresolved (why kctx could not tell), record;
    match: {entry, by (tier, server, address, ca, namespace or unknown), why} of the strongest
    reason it is protected, None when it is not.
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
        d.update(entry=None, server="", context="", namespace="default", unresolved=None, files=[], cluster="")
        self._ca: Any = ()
        self._verified = True  # kubectl checks the server's certificate
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
        d["cluster"] = cluster
        # The CA kubectl verifies the server with: --certificate-authority replaces the cluster's,
        # --insecure-skip-tls-verify drops it (as client-go merges its overrides).
        ca_flag = p.last("certificate-authority")
        ca = merged.cas.get(cluster, ())
        if ca_flag:
            self._ca = ca_flag
        elif p.true("insecure-skip-tls-verify"):
            self._verified = False
        else:
            self._ca = ca
            if isinstance(ca, tuple) and len(ca) == 2 and isinstance(ca[0], dict):
                self._verified = ca[0].get("insecure-skip-tls-verify") is not True
        if server_parts(server)[0] == "http":
            self._verified = False
        # The kctx entry this is: a context named after an entry that reaches that entry's server
        # (a session file's context, an entry file's, or a user kubeconfig's twin of one).
        rec = index.get(ctx_name) if ctx_name else None
        if rec and normalise_server(rec.get("server") or "") == normalise_server(server):
            d["entry"] = ctx_name

    def _target_cas(self) -> frozenset[str]:
        """The fingerprints of the CA certificates kubectl will trust for this target."""
        from kctx import identity

        src = self._ca
        if isinstance(src, str):  # --certificate-authority, relative to where k runs
            return frozenset(identity.ca_fingerprints({"certificate-authority": src}))
        if isinstance(src, tuple) and len(src) == 2 and isinstance(src[0], dict):
            return frozenset(identity.ca_fingerprints(src[0], src[1]))
        return frozenset(src)

    def _protect(self, cfg: dict[str, Any], index: dict[str, dict[str, Any]], flag_server: str) -> None:
        from kctx import policy
        from kctx.config import is_protected

        d = self.__dict__
        team = policy.load(cfg)
        if team.errors:
            policy.warn(team, "k")
        index = policy.apply(cfg, index, team)  # the team policy's tiers, where they protect more
        prot = {name: rec["tier_protected"] if "tier_protected" in rec else is_protected(cfg, rec.get("tier") or "none")
                for name, rec in index.items()}
        if any(p and "server_key" not in index[n] for n, p in prot.items()):
            index = policy.apply(cfg, _refreshed_index(index), team)
        rules = [r for r in cfg["guard"]["namespace_tiers"] if is_protected(cfg, r["tier"])]
        ident = Identity(d["server"], index)
        entry = d["entry"]
        # (entry, how, short why, long why): every way the target is a protected entry, strongest first
        matches: list[tuple[str, str, str, str]] = []
        doubts: list[str] = []
        if entry and prot.get(entry):
            tier = index[entry].get("tier")
            matches.append((entry, "tier", f"entry {entry}, tier {tier}",
                            f"entry {entry} has the protected tier {tier}" + policy.because(index[entry])))
        for n in ident.same:
            if n != entry and prot[n]:
                matches.append((n, "server", f"same server as {n}",
                                f"same server as the protected entry {n} ({index[n].get('server')})"))
                break
        ruled = [n for n in index if any(_glob(r["entry"], n) for r in rules)] if rules else []
        at: list[str] = []  # entries the target is by address
        if not matches:
            at, unsure = ident.at_address([n for n in index if prot[n] or n in ruled])
            doubts += unsure
            for n in at:
                if prot[n]:
                    matches.append((n, "address", f"same address as {n} ({ident.shown(n)})",
                                    f"same address as the protected entry {n} ({ident.shown(n)})"))
                    break
        if not matches and not doubts:
            self._match_ca(index, prot, ident, at, matches, doubts)
        if d["unresolved"] is None and not ident.same and not doubts and (flag_server or not self._verified):
            # A server named on the command line, or one kubectl will not ask to prove whose it is
            # (no TLS, or insecure-skip-tls-verify): unless it is an entry's server under some
            # spelling, it may be any cluster.
            known, unsure = ident.at_address(list(index))
            doubts += unsure
            if not known and not unsure:
                d["unresolved"] = (f"the server {flag_server} given on the command line is no kctx entry's server"
                                   if flag_server else
                                   f"the server {d['server']} is no kctx entry's, and kubectl will not verify "
                                   "its certificate (plain http or insecure-skip-tls-verify)")
        if doubts and d["unresolved"] is None:
            d["unresolved"] = "; ".join(doubts)
        candidates = list(dict.fromkeys(([entry] if entry else []) + ident.same + at))
        rule_hit: tuple[str, str, str] | None = None
        for rule in rules:
            for n in candidates:
                if not _glob(rule["entry"], n):
                    continue
                if d["everywhere"]:
                    hit = "it may reach any namespace"
                else:
                    names = [ns for ns in d["namespaces"] if _glob(rule["namespace"], ns)]
                    hit = ("namespace " + ", ".join(names)) if names else ""
                if hit:
                    rule_hit = (n, rule["tier"], f"{hit} of {n}, and namespaces {rule['namespace']} are tier {rule['tier']}")
                    break
            if rule_hit:
                break
        said = None
        if not entry and not ident.same and not at and not matches and team.rules and d["unresolved"] is None:
            # A kubeconfig kctx never imported: the policy's server and context rules still hold.
            said = policy.match(team.rules, "", {"server": d["server"], "context": d["context"]})
            if said and not policy.protects(cfg, said[0]):
                said = None
        reasons = [why for *_, why in matches]
        if rule_hit:
            reasons.append(rule_hit[2])
        if said:
            reasons.append(f"policy {said[1]} rule {said[2]} makes its server tier {said[0]}")
        unknown = d["unresolved"] is not None and (any(prot.values()) or bool(rules) or bool(team.rules))
        if unknown:
            reasons.append(f"kctx cannot tell the target: {d['unresolved']}")
        shown = (matches[0][0] if matches else None) or (rule_hit[0] if rule_hit else None) \
            or entry or (ident.same[0] if ident.same else None) or (at[0] if at else None)
        if matches:
            d["match"] = {"entry": matches[0][0], "by": matches[0][1], "why": matches[0][2]}
        elif rule_hit:
            d["match"] = {"entry": rule_hit[0], "by": "namespace", "why": rule_hit[2]}
        elif said:
            d["match"] = {"entry": None, "by": "policy", "why": f"policy {said[1]} rule {said[2]}"}
        elif unknown:
            d["match"] = {"entry": None, "by": "unknown", "why": "kctx cannot tell the target"}
        else:
            d["match"] = None
        if rule_hit:
            d["tier"] = rule_hit[1]
        elif said:
            d["tier"] = said[0]
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
            d["confirm"] = server_parts(flag_server)[1].strip("[]") or "unknown"
        else:
            d["confirm"] = d["context"] or "unknown"

    def _match_ca(self, index: dict[str, dict[str, Any]], prot: dict[str, bool], ident: "Identity",
                  at: list[str], matches: list[tuple[str, str, str, str]], doubts: list[str]) -> None:
        """A target trusting a protected entry's CA is that cluster, unless its address says it
        is an unprotected entry trusting the same CA (a CA several clusters share)."""
        theirs = {n: record_cas(index[n]) for n, p in prot.items() if p}
        if not any(theirs.values()):
            return
        mine = self._target_cas()
        hits = [n for n, cas in theirs.items() if mine.intersection(cas)]
        if not hits:
            return
        peers = [n for n in index if not prot[n] and mine.intersection(record_cas(index[n]))]
        known = [n for n in peers if n in ident.same or n in at]
        if not known and peers:
            more, unsure = ident.at_address([n for n in peers if n not in at])
            if unsure:
                doubts += unsure
                return
            known = more
        if known:
            return
        n = hits[0]
        fp = min(mine.intersection(theirs[n]))
        matches.append((n, "ca", f"same CA as {n} (sha256 {fp[:16]}…)",
                        f"same CA as the protected entry {n} (sha256 {fp[:16]}…)"))


class Identity:
    """The target's server against the entries' servers: the same URL, or the same address
    (kctx.apiguard.policy asks it too, for an entry whose server is a protected entry's)."""

    def __init__(self, server: str, index: dict[str, dict[str, Any]]) -> None:
        self.index = index
        self.parts = server_parts(server) if server else ("", "", "", "")
        self.key = _key(self.parts) if server else ""
        self._theirs: dict[str, tuple[str, str, str, str]] = {}
        key = self.key
        self.same = sorted(n for n, rec in index.items() if key and (rec.get("server_key") or self._key_of(n)) == key)
        self._found: dict[str, Any] = {}

    def _key_of(self, name: str) -> str:
        return _key(self.of(name))

    def of(self, name: str) -> tuple[str, str, str, str]:
        """(scheme, host, port, path) of entry `name`'s server: split from the index's server_key."""
        got = self._theirs.get(name)
        if got is None:
            rec = self.index[name]
            key = rec.get("server_key")
            if key:
                scheme, _, rest = key.partition("://")
                hostport, slash, path = rest.partition("/")
                host, _, port = hostport.rpartition(":")
                got = (scheme, host, port, slash + path)
            else:
                got = server_parts(rec.get("server") or "")
            self._theirs[name] = got
        return got

    def at_address(self, names: list[str]) -> tuple[list[str], list[str]]:
        """(those of `names` at the target's address, port and path under another spelling,
        why kctx cannot tell for the others); looks up host names only for the same port."""
        _, host, port, path = self.parts
        if not host:
            return [], []
        near = [n for n in names if n not in self.same and self.of(n)[2] == port and self.of(n)[3] == path]
        if not near:
            return [], []
        from kctx import identity

        want = [h for h in [host, *(self.of(n)[1] for n in near)] if h not in self._found]
        if want:
            self._found.update(identity.resolve(want))
        mine = self._found.get(host)
        if mine is None:
            return [], [f"cannot look up {host} within {identity.RESOLVE_BUDGET:g} s"]
        same, doubts = [], []
        for n in near:
            theirs = self._found.get(self.of(n)[1])
            if theirs is None:
                doubts.append(f"cannot look up {self.of(n)[1]}, the host of entry {n}, within "
                              f"{identity.RESOLVE_BUDGET:g} s")
            elif mine & theirs:
                same.append(n)
        return same, doubts

    def shown(self, name: str) -> str:
        """The address the target shares with entry `name`, for people: 127.0.0.1:6443."""
        from kctx import identity

        _, host, port, _ = self.parts
        shared = sorted((self._found.get(host) or frozenset()) & (self._found.get(self.of(name)[1]) or frozenset()))
        addr = shared[0] if shared else host
        if addr == identity.LOOPBACK:
            addr = next((h for h in (host, self.of(name)[1]) if identity.is_ip(h)), "127.0.0.1")
        return f"{addr}:{port}"


def _key(parts: tuple[str, str, str, str]) -> str:
    return f"{parts[0]}://{parts[1]}:{parts[2]}{parts[3]}"


def _refreshed_index(index: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The index derived again from the entry files (once, for a store from before CA
    fingerprints); the old one when the store cannot be refreshed."""
    from kctx import store

    try:
        store.Store().entries()
        return store.load_hot_index()
    except Exception:  # noqa: BLE001 - without fingerprints, the other comparisons still hold
        return index
