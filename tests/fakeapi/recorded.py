"""Recorded requests: what a test asserts on (method, path, body, token, write or stream),
with just enough protobuf decoding for the bodies kubectl sends that way."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from .catalogue import parse_resource_path

# ---------------------------------------------------------------------------------------------
# Protobuf: kubectl (client-go's typed clients, since 1.32) sends some bodies as
# application/vnd.kubernetes.protobuf. It accepts JSON answers, so only decoding is needed,
# and only of the parts tests care about: type, metadata names, access review attributes.

PROTOBUF_TYPE = "application/vnd.kubernetes.protobuf"
_PROTOBUF_MAGIC = b"k8s\x00"


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _pb_fields(data: bytes) -> dict[int, list[Any]]:
    """Top-level fields of a protobuf message: {number: [values]} (bytes or ints)."""
    fields: dict[int, list[Any]] = {}
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _pb_strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    fields = _pb_fields(data)
    # Empty strings are left out, as JSON's omitempty would.
    return {name: fields[n][0].decode() for n, name in names.items() if fields.get(n, [b""])[0]}


def decode_protobuf(body: bytes) -> dict[str, Any] | None:
    """The gist of a Kubernetes protobuf body as a JSON-like dict, or None.

    Gives apiVersion, kind, metadata (name, generateName, namespace) and, for access
    reviews, spec.resourceAttributes / spec.nonResourceAttributes.
    """
    if not body.startswith(_PROTOBUF_MAGIC):
        return None
    try:
        unknown = _pb_fields(body[len(_PROTOBUF_MAGIC):])
        type_meta = _pb_strings(unknown.get(1, [b""])[0], {1: "apiVersion", 2: "kind"})
        raw = _pb_fields(unknown.get(2, [b""])[0])
        doc: dict[str, Any] = dict(type_meta)
        doc["metadata"] = _pb_strings(raw.get(1, [b""])[0],
                                      {1: "name", 2: "generateName", 3: "namespace"})
        if type_meta.get("kind", "").endswith("AccessReview") and 2 in raw:
            spec_fields = _pb_fields(raw[2][0])
            spec: dict[str, Any] = {}
            if 1 in spec_fields:
                spec["resourceAttributes"] = _pb_strings(spec_fields[1][0], {
                    1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                    6: "subresource", 7: "name"})
            if 2 in spec_fields:
                spec["nonResourceAttributes"] = _pb_strings(spec_fields[2][0],
                                                            {1: "path", 2: "verb"})
            doc["spec"] = spec
        return doc
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------------------------------
# Recorded requests.


@dataclass(frozen=True)
class Request:
    """One request received by a FakeAPIServer. `headers` keys are lower case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    content_type: str
    raw_query: str = ""
    server: str = ""
    time: float = 0.0
    client_cn: str | None = None  # common name of a verified client certificate

    def query_all(self, key: str) -> list[str]:
        """Every value of a repeated query parameter (exec's `command=` for instance)."""
        return parse_qs(self.raw_query, keep_blank_values=True).get(key, [])

    def json(self) -> Any:
        """The body decoded as JSON (None when empty or not JSON, e.g. protobuf)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def object(self) -> dict[str, Any] | None:
        """The body as an object: JSON, YAML (server-side apply) or the gist of protobuf."""
        if self.content_type.startswith(PROTOBUF_TYPE):
            return decode_protobuf(self.body)
        data = self.json()
        if data is None and self.body and "yaml" in self.content_type:
            import yaml  # server-side apply may send YAML

            try:
                data = yaml.safe_load(self.body)
            except yaml.YAMLError:
                data = None
        return data if isinstance(data, dict) else None

    @property
    def token(self) -> str | None:
        """The bearer token sent, if any."""
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    @property
    def is_write(self) -> bool:
        """A persisting write: see `is_write()`."""
        return is_write(self)

    @property
    def is_stream(self) -> bool:
        """exec/attach/portforward/proxy: see `is_stream()`."""
        return is_stream(self)

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (f"?{self.raw_query}" if self.raw_query else "")


STREAM_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})
REVIEW_GROUPS = ("authorization.k8s.io", "authentication.k8s.io")


def is_stream(req: Request) -> bool:
    """exec, attach, port-forward and proxy requests (any method), and any Upgrade request."""
    if "upgrade" in req.headers:
        return True
    parts = req.path.strip("/").split("/")
    if "proxy" in parts[:1]:  # legacy /proxy/... paths
        return True
    info = parse_resource_path(req.path)
    return bool(info and info.subresource in STREAM_SUBRESOURCES)


def is_write(req: Request) -> bool:
    """A request that would persist a change on a real cluster.

    POST/PUT/PATCH/DELETE, except server dry runs (`dryRun=All`), the review objects of
    authorization.k8s.io / authentication.k8s.io (self reviews, token and access reviews,
    which change nothing) and streams (see `is_stream`, reported separately).
    """
    if req.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    if "All" in req.query_all("dryRun"):
        return False
    if is_stream(req):
        return False
    parts = req.path.strip("/").split("/")
    review = req.method == "POST" and parts[:1] == ["apis"] and parts[1:2] != [] \
        and parts[1] in REVIEW_GROUPS
    return not review
