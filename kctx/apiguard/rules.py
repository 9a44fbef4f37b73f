"""What the API guard lets through: one HTTP request judged from its method, path and headers.

Forwarded: GET, HEAD and OPTIONS without a protocol upgrade; the review POSTs that persist
nothing, each anchored to its API group; and any request whose every `dryRun` is `All`.
Everything else is a write: refused on a protected target unless this shell is unlocked, as are
exec, attach, port-forward and proxy subresources (whatever the method) and every upgrade.

The path is judged as the API server will see it: percent-escapes decoded before it is split
(so `%2F` is a slash), the query read as Go reads it (a pair holding `;` is dropped). A write
whose path has empty, `.` or `..` segments is refused on a protected target whatever it names.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

READ_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
STREAM_SUBRESOURCES = frozenset(("exec", "attach", "portforward", "proxy"))
# (group, resource, namespaced): POSTs that create nothing and only answer a question.
REVIEWS = frozenset((
    ("authorization.k8s.io", "selfsubjectaccessreviews", False),
    ("authorization.k8s.io", "subjectaccessreviews", False),
    ("authorization.k8s.io", "localsubjectaccessreviews", True),
    ("authorization.k8s.io", "selfsubjectrulesreviews", False),
    ("authentication.k8s.io", "tokenreviews", False),
    ("authentication.k8s.io", "selfsubjectreviews", False),
))

# What a request is.
READ = "read"
REVIEW = "review"
DRY_RUN = "dry-run"
WRITE = "write"
STREAM = "stream"  # exec, attach, port-forward, proxy, any upgrade
ODD = "odd"  # a path kctx will not guess about (refused on a protected target)
PASSING = frozenset((READ, REVIEW, DRY_RUN))

_HEX = "0123456789abcdefABCDEF"


def _unquote(text: str, plus: bool = False) -> str | None:
    """Percent-decoding as Go's url package does it; None where Go would fail."""
    if plus:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == 0x25:  # %
            pair = raw[i + 1:i + 3].decode("latin-1")
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                return None
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "surrogateescape")


def query_values(raw_query: str, key: str) -> list[str]:
    """Every value of `key` in a query string, as Go's url.ParseQuery keeps them."""
    values = []
    for pair in raw_query.split("&"):
        if not pair or ";" in pair:
            continue  # Go drops pairs holding a semicolon
        k, _, v = pair.partition("=")
        k2, v2 = _unquote(k, True), _unquote(v, True)
        if k2 is None or v2 is None:
            continue  # Go drops pairs it cannot decode
        if k2 == key:
            values.append(v2)
    return values


def split_target(target: str) -> tuple[str, str] | None:
    """(path, raw query) of a request target; None when it is not one kctx forwards."""
    if target.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        target = rest[slash:] if slash >= 0 else "/"
    if target == "*":
        return "*", ""
    if not target.startswith("/"):
        return None
    path, _, query = target.partition("?")
    return path, query


class Request:
    """What the guard knows of one request: kind, namespace (None: cluster-scoped or not a
    resource) and a short description for messages and the audit log."""

    __slots__ = ("kind", "method", "namespace", "path", "query", "what")

    def __init__(self, kind: str, method: str, path: str, query: str, namespace: str | None, what: str) -> None:
        self.kind = kind
        self.method = method
        self.path = path
        self.query = query
        self.namespace = namespace
        self.what = what

    @property
    def passes(self) -> bool:
        return self.kind in PASSING


def body_dry_run(body: bytes, content_type: str) -> bool:
    """Whether a DELETE's DeleteOptions body asks for a dry run (kubectl sends it there).

    The API server reads a DELETE's options from its body when it has one, else from the query.
    Only JSON is read; anything else (protobuf) counts as no dry run."""
    if content_type and "json" not in content_type.lower():
        return False
    import json

    try:
        doc = json.loads(body)
    except ValueError:
        return False
    dry = doc.get("dryRun") if isinstance(doc, dict) else None
    return isinstance(dry, list) and bool(dry) and all(v == "All" for v in dry)


def classify(method: str, target: str, upgrade: bool = False, body_dry: bool | None = None) -> Request:
    """Judge one request (method as sent, request target, whether it asks for an upgrade; for a
    DELETE with a body, whether that body asks for a dry run)."""
    split = split_target(target)
    if split is None:
        return Request(ODD, method, target, "", None, "a request target kctx does not understand")
    raw_path, query = split
    path = _unquote(raw_path)
    if path is None:
        return Request(ODD, method, raw_path, query, None, "a path that does not decode")
    segments = path.split("/")[1:]
    namespace, stream, review, odd = _resource(segments)
    if upgrade:
        return Request(STREAM, method, path, query, namespace, "a protocol upgrade (exec, attach, port-forward)")
    if stream:
        return Request(STREAM, method, path, query, namespace, f"the {stream} subresource")
    if method in READ_METHODS:
        return Request(READ, method, path, query, namespace, "a read")
    if odd:
        return Request(ODD, method, path, query, namespace, "a path with empty, '.' or '..' parts")
    if method == "POST" and review:
        return Request(REVIEW, method, path, query, namespace, "a review that persists nothing")
    if method == "DELETE" and body_dry is not None:
        if body_dry:
            return Request(DRY_RUN, method, path, query, namespace, "a server-side dry run")
    elif method in ("POST", "PUT", "PATCH", "DELETE"):
        dry = query_values(query, "dryRun")
        if dry and all(v == "All" for v in dry):
            return Request(DRY_RUN, method, path, query, namespace, "a server-side dry run")
    return Request(WRITE, method, path, query, namespace, "a write")


def _resource(segments: list[str]) -> tuple[str | None, str | None, bool, bool]:
    """(namespace, stream subresource, is a review, has odd segments) of a decoded path."""
    odd = any(s in ("", ".", "..") for s in segments[:-1]) or segments[-1:] in (["."], [".."])
    if segments[:1] == ["api"] and len(segments) >= 2:
        group, rest = "", segments[2:]
    elif segments[:1] == ["apis"] and len(segments) >= 3:
        group, rest = segments[1], segments[3:]
    else:
        # Not an API path (/version, /healthz, /openapi/...), or the legacy /proxy paths.
        stream = "proxy" if "proxy" in segments[:3] else None
        return None, stream, False, odd
    while rest and rest[-1] == "":
        rest = rest[:-1]  # a trailing slash
    namespace = None
    if rest[:1] == ["namespaces"] and len(rest) >= 2:
        namespace = rest[1]
        if len(rest) >= 3:
            rest = rest[2:]  # the resource inside the namespace (or status/finalize of it)
        else:
            rest = []
    stream = None
    if rest[:1] == ["proxy"]:
        stream = "proxy"  # /api/v1/proxy/... (old API servers)
    elif len(rest) >= 3 and rest[2] in STREAM_SUBRESOURCES:
        stream = rest[2]
    review = len(rest) == 1 and (group, rest[0], namespace is not None) in REVIEWS
    return namespace, stream, review, odd


# -- protection ---------------------------------------------------------------------------------
class Policy:
    """What the guard protects on one entry: everything (`everything` says why), or the
    namespaces its guard.namespace_tiers rules give a protected tier."""

    __slots__ = ("entry", "everything", "rules", "server", "tier")

    def __init__(self, entry: str, tier: str, server: str, everything: str | None,
                 rules: list[dict[str, str]]) -> None:
        self.entry = entry
        self.tier = tier
        self.server = server
        self.everything = everything
        self.rules = rules

    def as_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "tier": self.tier, "server": self.server,
                "everything": self.everything, "rules": self.rules}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        return cls(d["entry"], d["tier"], d["server"], d["everything"], d["rules"])

    def protects(self, namespace: str | None) -> str | None:
        """Why a write in `namespace` (None: cluster-scoped) is protected, or None."""
        if self.everything:
            return self.everything
        from kctx.wildcard import match

        for rule in self.rules:
            if namespace is None:
                return (f"a cluster-scoped write may touch any namespace, and namespaces "
                        f"{rule['namespace']} of {self.entry} are tier {rule['tier']}")
            if match(rule["namespace"], namespace):
                return f"namespace {namespace} of {self.entry} is tier {rule['tier']}"
        return None
