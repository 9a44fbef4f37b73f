"""A fake Kubernetes API server that the real kubectl (1.37) works against.

HTTPS on 127.0.0.1 (random port) with a certificate from one trustme CA shared by every server
of the process; every request is recorded. Discovery (aggregated and legacy), OpenAPI v3 (just
enough for validation and `explain`), synthetic objects and access reviews are answered the way
kubectl expects, so reads print and writes get as far as sending their request, which is
recorded and answered but never stored.

    with FakeAPIServer("v1.29.6-eks-1de2ab1", name="prod") as api:
        write_kubeconfig(path, [{"name": "prod", "server": api, "namespace": "payments"}])
        ...run kubectl with KUBECONFIG=path and an isolated HOME...
        assert [str(r) for r in api.writes()] == ["DELETE /api/v1/namespaces/payments/pods/x"]

State is only what a test sets: every named GET gives a healthy object of the right kind
(unless `set_missing`), collections are empty (unless `set_object`), writes change nothing.
A few answers exist for kubectl's sake: a name field selector lists that object (`wait`,
`rollout status`), label selector `app=NAME` lists a pod and two ReplicaSet revisions
(`logs deploy/NAME`, `rollout history|undo`), and the first GET after a DELETE answers 404
(`delete`, `replace --force` wait for it).
"""
from __future__ import annotations

import atexit
import base64
import copy
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import trustme

__all__ = [
    "RESOURCES",
    "ClientCert",
    "FakeAPIServer",
    "Request",
    "SharedCA",
    "decode_protobuf",
    "is_stream",
    "is_write",
    "object_path",
    "parse_resource_path",
    "parse_version",
    "session_ca",
    "synthetic_object",
    "write_kubeconfig",
]

# ---------------------------------------------------------------------------------------------
# TLS: one CA per process, one leaf certificate for 127.0.0.1/localhost used by every server.


@dataclass(frozen=True)
class ClientCert:
    """A client certificate from the shared CA, as PEM bytes and as files."""

    common_name: str
    cert_pem: bytes
    key_pem: bytes
    cert_path: str
    key_path: str


class SharedCA:
    """The process-wide test CA: `ca` (trustme), `pem` bytes and `pem_path`."""

    def __init__(self) -> None:
        self.ca = trustme.CA()  # ECDSA keys: RSA key generation is slow on this machine
        self.pem = self.ca.cert_pem.bytes()
        self.folder = tempfile.mkdtemp(prefix="kctx-test-ca-")
        atexit.register(shutil.rmtree, self.folder, True)
        self.pem_path = os.path.join(self.folder, "ca.pem")
        with open(self.pem_path, "wb") as f:
            f.write(self.pem)
        self._leaf = self.ca.issue_cert("127.0.0.1", "localhost", "::1")
        self.server_context = self._server_context(client_certs=False)
        self.mtls_context = self._server_context(client_certs=True)
        self._clients: dict[str, ClientCert] = {}
        self._lock = threading.Lock()

    def _server_context(self, client_certs: bool) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf.configure_cert(ctx)
        # No h2 offered: Go then speaks HTTP/1.1, which http.server understands.
        ctx.set_alpn_protocols(["http/1.1"])
        if client_certs:
            # Like kube-apiserver: a client certificate is optional, and checked when sent.
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cadata=self.pem.decode())
        return ctx

    @property
    def pem_b64(self) -> str:
        """The CA PEM as kubeconfig `certificate-authority-data`."""
        return base64.b64encode(self.pem).decode()

    def client_context(self) -> ssl.SSLContext:
        """An SSL context trusting only this CA (for Python clients in tests)."""
        return ssl.create_default_context(cadata=self.pem.decode())

    def client_cert(self, common_name: str) -> ClientCert:
        """A client certificate for `common_name` (the user name servers see), made once."""
        with self._lock:
            if common_name not in self._clients:
                leaf = self.ca.issue_cert(f"{len(self._clients)}.client.invalid",
                                          common_name=common_name)
                base = os.path.join(self.folder, f"client-{len(self._clients)}")
                leaf.cert_chain_pems[0].write_to_path(base + ".crt")
                leaf.private_key_pem.write_to_path(base + ".key")
                self._clients[common_name] = ClientCert(
                    common_name, leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes(),
                    base + ".crt", base + ".key")
            return self._clients[common_name]


_ca_lock = threading.Lock()
_ca: SharedCA | None = None


def session_ca() -> SharedCA:
    """The CA shared by all fake servers and mirrors of this process (created on first use)."""
    global _ca
    with _ca_lock:
        if _ca is None:
            _ca = SharedCA()
        return _ca


# ---------------------------------------------------------------------------------------------
# A threaded HTTPS server with TCP_NODELAY, shared by the fake API server and the mirror.


class TLSHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that does the TLS handshake in the worker thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.ssl_context = context
        self._conns: set[ssl.SSLSocket] = set()
        self._conns_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        # Without it, Go's small writes meet delayed ACKs: about 40 ms lost per connection.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Handshake here (a worker thread), not in accept(), so one slow client stalls nobody.
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        with self._conns_lock:
            self._conns.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response are normal here (truncate tests, killed kubectl).
        pass

    def close_connections(self) -> None:
        """Hang up every open keep-alive connection (used by stop())."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class BaseHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that writes each response in one send."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections end eventually
    server_version = "fake-kube"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def respond(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        """Send status, headers and body in one write."""
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Cache-Control: no-cache, private")
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}")
        if close:
            lines.append("Connection: close")
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))


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


# ---------------------------------------------------------------------------------------------
# The resource table behind discovery and path parsing.

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION_DELETE = ("create", "delete", "get", "list", "patch", "update", "watch")
GET_UPDATE = ("get", "patch", "update")
CREATE_ONLY = ("create",)
PROXY_VERBS = ("create", "delete", "get", "patch", "update")
CONNECT_VERBS = ("create", "get")


@dataclass(frozen=True)
class Sub:
    """A subresource: verbs and the kind it answers with (group, version, kind)."""

    verbs: tuple[str, ...]
    kind: tuple[str, str, str] | None = None  # None: the parent's kind


@dataclass(frozen=True)
class Resource:
    """One API resource as discovery describes it."""

    name: str
    kind: str
    namespaced: bool = True
    verbs: tuple[str, ...] = ALL_VERBS
    short: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: dict[str, Sub] = field(default_factory=dict)

    @property
    def singular(self) -> str:
        return self.kind.lower()


def _r(name: str, kind: str, *, ns: bool = True, verbs: tuple[str, ...] = ALL_VERBS,
       short: tuple[str, ...] = (), cats: tuple[str, ...] = (), **subs: Sub) -> Resource:
    return Resource(name, kind, ns, verbs, short, cats, dict(subs))


STATUS = Sub(GET_UPDATE)
SCALE = Sub(GET_UPDATE, ("autoscaling", "v1", "Scale"))
ALL = ("all",)
EXT = ("api-extensions",)

# group -> {version: resources}; versions in preference order (first is preferred).
RESOURCES: dict[str, dict[str, list[Resource]]] = {
    "": {"v1": [
        _r("bindings", "Binding", verbs=CREATE_ONLY),
        _r("componentstatuses", "ComponentStatus", ns=False, verbs=("get", "list"), short=("cs",)),
        _r("configmaps", "ConfigMap", short=("cm",)),
        _r("endpoints", "Endpoints", short=("ep",)),
        _r("events", "Event", short=("ev",)),
        _r("limitranges", "LimitRange", short=("limits",)),
        _r("namespaces", "Namespace", ns=False, verbs=NO_COLLECTION_DELETE, short=("ns",),
           finalize=Sub(("update",)), status=STATUS),
        _r("nodes", "Node", ns=False, short=("no",),
           proxy=Sub(PROXY_VERBS, ("", "v1", "NodeProxyOptions")), status=STATUS),
        _r("persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), status=STATUS),
        _r("persistentvolumes", "PersistentVolume", ns=False, short=("pv",), status=STATUS),
        _r("pods", "Pod", short=("po",), cats=ALL,
           attach=Sub(CONNECT_VERBS, ("", "v1", "PodAttachOptions")),
           binding=Sub(CREATE_ONLY, ("", "v1", "Binding")),
           ephemeralcontainers=Sub(GET_UPDATE),
           eviction=Sub(CREATE_ONLY, ("policy", "v1", "Eviction")),
           exec=Sub(CONNECT_VERBS, ("", "v1", "PodExecOptions")),
           log=Sub(("get",)),
           portforward=Sub(CONNECT_VERBS, ("", "v1", "PodPortForwardOptions")),
           proxy=Sub(PROXY_VERBS, ("", "v1", "PodProxyOptions")),
           resize=Sub(GET_UPDATE),
           status=STATUS),
        _r("podtemplates", "PodTemplate"),
        _r("replicationcontrollers", "ReplicationController", short=("rc",), cats=ALL,
           scale=SCALE, status=STATUS),
        _r("resourcequotas", "ResourceQuota", short=("quota",), status=STATUS),
        _r("secrets", "Secret"),
        _r("serviceaccounts", "ServiceAccount", short=("sa",),
           token=Sub(CREATE_ONLY, ("authentication.k8s.io", "v1", "TokenRequest"))),
        _r("services", "Service", short=("svc",), cats=ALL,
           proxy=Sub(PROXY_VERBS, ("", "v1", "ServiceProxyOptions")), status=STATUS),
    ]},
    "apiregistration.k8s.io": {"v1": [
        _r("apiservices", "APIService", ns=False, cats=EXT, status=STATUS),
    ]},
    "apps": {"v1": [
        _r("controllerrevisions", "ControllerRevision"),
        _r("daemonsets", "DaemonSet", short=("ds",), cats=ALL, status=STATUS),
        _r("deployments", "Deployment", short=("deploy",), cats=ALL, scale=SCALE, status=STATUS),
        _r("replicasets", "ReplicaSet", short=("rs",), cats=ALL, scale=SCALE, status=STATUS),
        _r("statefulsets", "StatefulSet", short=("sts",), cats=ALL, scale=SCALE, status=STATUS),
    ]},
    "events.k8s.io": {"v1": [_r("events", "Event", short=("ev",))]},
    "authentication.k8s.io": {"v1": [
        _r("selfsubjectreviews", "SelfSubjectReview", ns=False, verbs=CREATE_ONLY),
        _r("tokenreviews", "TokenReview", ns=False, verbs=CREATE_ONLY),
    ]},
    "authorization.k8s.io": {"v1": [
        _r("localsubjectaccessreviews", "LocalSubjectAccessReview", verbs=CREATE_ONLY),
        _r("selfsubjectaccessreviews", "SelfSubjectAccessReview", ns=False, verbs=CREATE_ONLY),
        _r("selfsubjectrulesreviews", "SelfSubjectRulesReview", ns=False, verbs=CREATE_ONLY),
        _r("subjectaccessreviews", "SubjectAccessReview", ns=False, verbs=CREATE_ONLY),
    ]},
    "autoscaling": {
        "v2": [_r("horizontalpodautoscalers", "HorizontalPodAutoscaler", short=("hpa",),
                  cats=ALL, status=STATUS)],
        "v1": [_r("horizontalpodautoscalers", "HorizontalPodAutoscaler", short=("hpa",),
                  cats=ALL, status=STATUS)],
    },
    "batch": {"v1": [
        _r("cronjobs", "CronJob", short=("cj",), cats=ALL, status=STATUS),
        _r("jobs", "Job", cats=ALL, status=STATUS),
    ]},
    "certificates.k8s.io": {"v1": [
        _r("certificatesigningrequests", "CertificateSigningRequest", ns=False, short=("csr",),
           approval=Sub(GET_UPDATE), status=STATUS),
    ]},
    "networking.k8s.io": {"v1": [
        _r("ingressclasses", "IngressClass", ns=False),
        _r("ingresses", "Ingress", short=("ing",), status=STATUS),
        _r("ipaddresses", "IPAddress", ns=False, short=("ip",)),
        _r("networkpolicies", "NetworkPolicy", short=("netpol",)),
        _r("servicecidrs", "ServiceCIDR", ns=False, status=STATUS),
    ]},
    "policy": {"v1": [
        _r("poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",), status=STATUS),
    ]},
    "rbac.authorization.k8s.io": {"v1": [
        _r("clusterrolebindings", "ClusterRoleBinding", ns=False),
        _r("clusterroles", "ClusterRole", ns=False),
        _r("rolebindings", "RoleBinding"),
        _r("roles", "Role"),
    ]},
    "storage.k8s.io": {"v1": [
        _r("csidrivers", "CSIDriver", ns=False),
        _r("csinodes", "CSINode", ns=False),
        _r("csistoragecapacities", "CSIStorageCapacity"),
        _r("storageclasses", "StorageClass", ns=False, short=("sc",)),
        _r("volumeattachments", "VolumeAttachment", ns=False, status=STATUS),
        _r("volumeattributesclasses", "VolumeAttributesClass", ns=False, short=("vac",)),
    ]},
    "admissionregistration.k8s.io": {"v1": [
        _r("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", ns=False, cats=EXT),
        _r("validatingadmissionpolicies", "ValidatingAdmissionPolicy", ns=False, cats=EXT,
           status=STATUS),
        _r("validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", ns=False,
           cats=EXT),
        _r("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", ns=False,
           cats=EXT),
    ]},
    "apiextensions.k8s.io": {"v1": [
        _r("customresourcedefinitions", "CustomResourceDefinition", ns=False,
           short=("crd", "crds"), cats=EXT, status=STATUS),
    ]},
    "scheduling.k8s.io": {"v1": [_r("priorityclasses", "PriorityClass", ns=False, short=("pc",))]},
    "coordination.k8s.io": {"v1": [_r("leases", "Lease")]},
    "node.k8s.io": {"v1": [_r("runtimeclasses", "RuntimeClass", ns=False)]},
    "discovery.k8s.io": {"v1": [_r("endpointslices", "EndpointSlice")]},
    "flowcontrol.apiserver.k8s.io": {"v1": [
        _r("flowschemas", "FlowSchema", ns=False, status=STATUS),
        _r("prioritylevelconfigurations", "PriorityLevelConfiguration", ns=False, status=STATUS),
    ]},
    "resource.k8s.io": {"v1": [
        _r("deviceclasses", "DeviceClass", ns=False),
        _r("resourceclaims", "ResourceClaim", status=STATUS),
        _r("resourceclaimtemplates", "ResourceClaimTemplate"),
        _r("resourceslices", "ResourceSlice", ns=False),
    ]},
}

_BY_GV: dict[tuple[str, str], dict[str, Resource]] = {
    (group, version): {r.name: r for r in resources}
    for group, versions in RESOURCES.items()
    for version, resources in versions.items()
}


def _gv(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


@dataclass(frozen=True)
class ResourcePath:
    """A request path taken apart: /apis/GROUP/VERSION/namespaces/NS/RESOURCE/NAME/SUB."""

    group: str
    version: str
    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def api_version(self) -> str:
        return _gv(self.group, self.version)


def parse_resource_path(path: str) -> ResourcePath | None:
    """Take a resource path apart; None when it names no known resource."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    table = _BY_GV.get((group, version))
    if table is None or not rest:
        return None
    namespace = None
    # /namespaces/NS/RESOURCE... is a namespaced path, unless it is the namespace itself
    # (/namespaces/NS, /namespaces/NS/status, /namespaces/NS/finalize).
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in table and table[rest[2]].namespaced:
        namespace, rest = rest[1], rest[2:]
    resource = table.get(rest[0])
    if len(rest) > 3 and rest[2] == "proxy":
        rest = rest[:3]  # .../services/NAME/proxy/any/path
    if resource is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else None
    if sub is not None and sub not in resource.subresources:
        return None
    return ResourcePath(group, version, resource, namespace, name, sub)


# ---------------------------------------------------------------------------------------------
# Discovery documents.


def _aggregated_resource(group: str, version: str, r: Resource) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resource": r.name,
        "responseKind": {"group": group, "version": version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short:
        doc["shortNames"] = list(r.short)
    if r.categories:
        doc["categories"] = list(r.categories)
    if r.subresources:
        doc["subresources"] = [
            {
                "subresource": name,
                "responseKind": dict(zip(("group", "version", "kind"),
                                         sub.kind or (group, version, r.kind))),
                "verbs": list(sub.verbs),
            }
            for name, sub in sorted(r.subresources.items())
        ]
    return doc


def aggregated_discovery(core: bool) -> dict[str, Any]:
    """APIGroupDiscoveryList (apidiscovery.k8s.io/v2) for /api (core) or /apis."""
    items = []
    for group, versions in RESOURCES.items():
        if (group == "") != core:
            continue
        items.append({
            "metadata": {"name": group} if group else {},
            "versions": [
                {"version": v, "freshness": "Current",
                 "resources": [_aggregated_resource(group, v, r) for r in rs]}
                for v, rs in versions.items()
            ],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def _group_doc(group: str, versions: Iterable[str]) -> dict[str, Any]:
    vs = [{"groupVersion": _gv(group, v), "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def legacy_api_group_list() -> dict[str, Any]:
    """APIGroupList for /apis."""
    groups = [_group_doc(g, vs) for g, vs in RESOURCES.items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def legacy_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """APIResourceList for /api/v1 or /apis/GROUP/VERSION."""
    table = _BY_GV.get((group, version))
    if table is None:
        return None
    resources = []
    for r in table.values():
        hash_ = base64.b64encode(hashlib.sha256(r.name.encode()).digest()[:8]).decode()
        doc: dict[str, Any] = {"name": r.name, "singularName": r.singular,
                               "namespaced": r.namespaced, "kind": r.kind,
                               "verbs": list(r.verbs), "storageVersionHash": hash_}
        if r.short:
            doc["shortNames"] = list(r.short)
        if r.categories:
            doc["categories"] = list(r.categories)
        resources.append(doc)
        for sub_name, sub in sorted(r.subresources.items()):
            sdoc: dict[str, Any] = {"name": f"{r.name}/{sub_name}", "singularName": r.singular,
                                    "namespaced": r.namespaced, "verbs": list(sub.verbs)}
            g, v, k = sub.kind or (group, version, r.kind)
            sdoc["kind"] = k
            if (g, v) != (group, version):
                sdoc["group"], sdoc["version"] = g, v
            resources.append(sdoc)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": _gv(group, version),
            "resources": resources}


# ---------------------------------------------------------------------------------------------
# OpenAPI v3: just enough for kubectl. It needs a PATCH operation per kind carrying the
# `fieldValidation` query parameter (else `apply`/`create`/`replace` refuse: "failed to
# download openapi"), and schemas tagged with their kind for `kubectl explain`. No
# strategic-merge-patch content type is listed, so client-side apply builds its patches from
# kubectl's built-in types instead of these (empty) schemas.

_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/apply-patch+yaml")


def _query_params(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for n in names]


def _schema_name(group: str, version: str, kind: str) -> str:
    short = group.split(".")[0] if group else "core"
    return f"io.k8s.api.{short}.{version}.{kind}"


def openapi_v3_root() -> dict[str, Any]:
    """The /openapi/v3 index: one entry per group-version."""
    paths = {}
    for (group, version), doc_bytes in _openapi_docs().items():
        key = f"apis/{group}/{version}" if group else f"api/{version}"
        digest = hashlib.sha512(doc_bytes).hexdigest()[:64].upper()
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def openapi_v3_group(group: str, version: str) -> bytes | None:
    """The OpenAPI v3 document of one group-version (JSON bytes)."""
    return _openapi_docs().get((group, version))


_openapi_lock = threading.Lock()
_openapi_cache: dict[tuple[str, str], bytes] = {}


def _openapi_docs() -> dict[tuple[str, str], bytes]:
    with _openapi_lock:  # handler threads ask at once; none may see a half-built cache
        if not _openapi_cache:
            for (group, version), table in _BY_GV.items():
                doc = _openapi_doc(group, version, table)
                _openapi_cache[(group, version)] = json.dumps(doc).encode()
        return _openapi_cache


# (action, query parameters, request body content types) per verb; collection verbs first.
_COLLECTION_OPS = {
    "create": ("post", "post", ("dryRun", "fieldManager", "fieldValidation"), ("application/json",)),
    "list": ("get", "list", ("fieldSelector", "labelSelector", "limit", "watch"), ()),
}
_ITEM_OPS = {
    "get": ("get", "get", (), ()),
    "update": ("put", "put", ("dryRun", "fieldManager", "fieldValidation"), ("application/json",)),
    "patch": ("patch", "patch", ("dryRun", "fieldManager", "fieldValidation", "force"),
              _PATCH_TYPES),
    "delete": ("delete", "delete", ("dryRun", "gracePeriodSeconds", "propagationPolicy"), ()),
}


def _operation(r: Resource, gvk: dict[str, str], action: str, params: tuple[str, ...],
               body: tuple[str, ...], schema_ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": f"{action}{r.kind}",
        "parameters": _query_params(*params),
        "responses": {"200": {"description": "OK",
                              "content": {"application/json": {"schema": {"$ref": schema_ref}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }
    if body:
        doc["requestBody"] = {"content": {t: {"schema": {"type": "object"}} for t in body},
                              "required": True}
    return doc


def _openapi_doc(group: str, version: str, table: dict[str, Resource]) -> dict[str, Any]:
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for r in table.values():
        gvk = {"group": group, "version": version, "kind": r.kind}
        schema = _schema_name(group, version, r.kind)
        ref = f"#/components/schemas/{schema}"
        collection = f"{base}/namespaces/{{namespace}}/{r.name}" if r.namespaced else f"{base}/{r.name}"
        for ops, path in ((_COLLECTION_OPS, collection), (_ITEM_OPS, f"{collection}/{{name}}")):
            doc = {method: _operation(r, gvk, action, params, body, ref)
                   for verb, (method, action, params, body) in ops.items() if verb in r.verbs}
            if doc:
                paths[path] = doc
        schemas[schema] = {
            "description": f"{r.kind} (fake API server schema).",
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion of this object."},
                "kind": {"type": "string", "description": "Kind of this object."},
                "metadata": {"type": "object", "description": "Standard object metadata."},
                "spec": {"type": "object", "description": f"Desired state of the {r.kind}."},
                "status": {"type": "object", "description": f"Observed state of the {r.kind}."},
            },
            "x-kubernetes-group-version-kind": [gvk],
        }
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"},
            "paths": paths, "components": {"schemas": schemas}}


# ---------------------------------------------------------------------------------------------
# Synthetic objects.

CREATED = "2024-01-01T00:00:00Z"


_csr_cache: list[str] = []


def _csr_pem_b64() -> str:
    """A real PEM certificate request (base64), so `describe csr` can parse it."""
    if not _csr_cache:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone")])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        _csr_cache.append(base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode())
    return _csr_cache[0]


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _pod_spec(name: str, restart: str = "Always") -> dict[str, Any]:
    return {
        "containers": [{
            "name": "main",
            "image": "registry.k8s.io/pause:3.10",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {},
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }],
        "restartPolicy": restart,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler",
        "securityContext": {},
    }


def _template(name: str, restart: str = "Always") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}}, "spec": _pod_spec(name, restart)}


def _condition(kind: str) -> dict[str, Any]:
    return {"type": kind, "status": "True", "lastTransitionTime": CREATED}


def synthetic_object(rp: ResourcePath, name: str, server_version: str = "v1.37.1") -> dict[str, Any]:
    """A plausible object of the resource's kind named `name` (status: healthy, ready)."""
    r = rp.resource
    meta: dict[str, Any] = {
        "name": name,
        "uid": _uid(rp.api_version, r.name, rp.namespace or "", name),
        "resourceVersion": "1",
        "generation": 1,
        "creationTimestamp": CREATED,
        "labels": {"app": name},
    }
    if r.namespaced:
        meta["namespace"] = rp.namespace or "default"
    obj: dict[str, Any] = {"kind": r.kind, "apiVersion": rp.api_version, "metadata": meta}
    selector = {"matchLabels": {"app": name}}
    ready = {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
             "observedGeneration": 1}
    kind = r.kind
    if kind == "Pod":
        obj["spec"] = _pod_spec(name) | {"nodeName": "node1"}
        obj["status"] = {
            "phase": "Running",
            "conditions": [_condition(c) for c in
                           ("PodReadyToStartContainers", "Initialized", "Ready",
                            "ContainersReady", "PodScheduled")],
            "hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": "10.244.0.10", "podIPs": [{"ip": "10.244.0.10"}],
            "startTime": CREATED, "qosClass": "BestEffort",
            "containerStatuses": [{
                "name": "main", "ready": True, "started": True, "restartCount": 0,
                "image": "registry.k8s.io/pause:3.10",
                "imageID": "registry.k8s.io/pause@sha256:" + "0" * 64,
                "containerID": "containerd://" + hashlib.sha256(name.encode()).hexdigest(),
                "state": {"running": {"startedAt": CREATED}},
            }],
        }
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        obj["spec"] = {"replicas": 1, "selector": selector, "template": _template(name)}
        if kind == "Deployment":
            obj["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": "25%", "maxUnavailable": "25%"}}
            obj["spec"]["revisionHistoryLimit"] = 10
            obj["spec"]["progressDeadlineSeconds"] = 600
            obj["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
            obj["status"] = ready | {"conditions": [
                _condition("Available") | {"reason": "MinimumReplicasAvailable"},
                _condition("Progressing") | {"reason": "NewReplicaSetAvailable"}]}
        elif kind == "StatefulSet":
            obj["spec"] |= {"serviceName": name, "podManagementPolicy": "OrderedReady",
                            "updateStrategy": {"type": "RollingUpdate"}}
            obj["status"] = ready | {"currentReplicas": 1, "currentRevision": f"{name}-1",
                                     "updateRevision": f"{name}-1"}
        else:
            obj["status"] = ready | {"fullyLabeledReplicas": 1}
    elif kind == "DaemonSet":
        obj["spec"] = {"selector": selector, "template": _template(name),
                       "updateStrategy": {"type": "RollingUpdate"}}
        obj["status"] = {"currentNumberScheduled": 1, "desiredNumberScheduled": 1,
                         "numberAvailable": 1, "numberReady": 1, "numberMisscheduled": 0,
                         "updatedNumberScheduled": 1, "observedGeneration": 1}
    elif kind == "ReplicationController":
        obj["spec"] = {"replicas": 1, "selector": {"app": name}, "template": _template(name)}
        obj["status"] = ready
    elif kind == "Job":
        obj["spec"] = {"completions": 1, "parallelism": 1, "backoffLimit": 6,
                       "selector": selector, "template": _template(name, "Never")}
        obj["status"] = {"succeeded": 1, "startTime": CREATED, "completionTime": CREATED,
                         "conditions": [_condition("Complete")]}
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "*/5 * * * *", "concurrencyPolicy": "Allow", "suspend": False,
                       "jobTemplate": {"spec": {"template": _template(name, "OnFailure")}}}
        obj["status"] = {}
    elif kind == "Service":
        obj["spec"] = {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                       "selector": {"app": name}, "sessionAffinity": "None",
                       "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                  "protocol": "TCP"}]}
        obj["status"] = {"loadBalancer": {}}
    elif kind == "Node":
        meta["labels"] = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                          "kubernetes.io/arch": "amd64"}
        obj["spec"] = {"podCIDR": "10.244.0.0/24"}
        capacity = {"cpu": "4", "memory": "8Gi", "pods": "110"}
        obj["status"] = {
            "conditions": [_condition("Ready") | {"reason": "KubeletReady",
                                                  "lastHeartbeatTime": CREATED}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                          {"type": "Hostname", "address": name}],
            "capacity": capacity, "allocatable": capacity,
            "nodeInfo": {"kubeletVersion": server_version, "kubeProxyVersion": server_version,
                         "osImage": "Fake Linux", "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "containerd://2.0.0",
                         "kernelVersion": "6.1.0", "machineID": "", "systemUUID": "",
                         "bootID": ""},
        }
    elif kind == "Namespace":
        meta["labels"] = {"kubernetes.io/metadata.name": name}
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif kind == "ConfigMap":
        obj["data"] = {"key": "value"}
    elif kind == "Secret":
        obj["type"] = "Opaque"
        obj["data"] = {"password": base64.b64encode(b"secret").decode()}
    elif kind == "ServiceAccount":
        pass
    elif kind == "HorizontalPodAutoscaler":
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        obj["spec"] = {"scaleTargetRef": target, "minReplicas": 1, "maxReplicas": 3}
        obj["status"] = {"currentReplicas": 1, "desiredReplicas": 1}
    elif kind == "PodDisruptionBudget":
        obj["spec"] = {"minAvailable": 1, "selector": selector}
        obj["status"] = {"currentHealthy": 1, "desiredHealthy": 1, "disruptionsAllowed": 0,
                         "expectedPods": 1, "observedGeneration": 1}
    elif kind == "Ingress":
        obj["spec"] = {"rules": [{"host": f"{name}.example.com", "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": name, "port": {"number": 80}}}}]}}]}
    elif kind == "CertificateSigningRequest":
        obj["spec"] = {"request": _csr_pem_b64(), "signerName": "kubernetes.io/kube-apiserver-client",
                       "usages": ["client auth"], "username": "someone"}
        obj["status"] = {}
    elif kind in ("Role", "ClusterRole"):
        obj["rules"] = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        obj["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                          "name": "view"}
        obj["subjects"] = [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                            "name": "someone"}]
    else:
        obj["spec"] = {}
    return obj


def replica_set_history(rp: ResourcePath, deployment: str) -> list[dict[str, Any]]:
    """Two ReplicaSets owned by the synthetic deployment: revision 1 (old image) and 2."""
    namespace = rp.namespace or "default"
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment, "controller": True,
             "blockOwnerDeletion": True,
             "uid": _uid("apps/v1", "deployments", namespace, deployment)}
    history = []
    for revision, image in ((1, "registry.k8s.io/pause:3.9"), (2, "registry.k8s.io/pause:3.10")):
        name = f"{deployment}-{hashlib.sha256(image.encode()).hexdigest()[:10]}"
        rs = synthetic_object(rp, name)
        template = _template(deployment)
        template["spec"]["containers"][0]["image"] = image
        template["metadata"]["labels"]["pod-template-hash"] = name.rsplit("-", 1)[1]
        rs["metadata"] |= {"labels": template["metadata"]["labels"], "ownerReferences": [owner],
                           "annotations": {"deployment.kubernetes.io/revision": str(revision)}}
        rs["spec"]["template"] = template
        rs["spec"]["selector"] = {"matchLabels": template["metadata"]["labels"]}
        rs["spec"]["replicas"] = revision - 1
        history.append(rs)
    return history


def scale_object(rp: ResourcePath, name: str, replicas: int = 1) -> dict[str, Any]:
    """autoscaling/v1 Scale for a scale subresource."""
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": name, "namespace": rp.namespace or "default",
                     "uid": _uid(rp.api_version, rp.resource.name, rp.namespace or "", name),
                     "resourceVersion": "1", "creationTimestamp": CREATED},
        "spec": {"replicas": replicas},
        "status": {"replicas": 1, "selector": f"app={name}"},
    }


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A metav1.Status document."""
    doc: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Success" if code < 400 else "Failure",
                           "message": message, "reason": reason, "code": code}
    if details:
        doc["details"] = details
    return doc


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge (good enough for merge, strategic and apply patches here)."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif not key.startswith("$"):
            out[key] = value
    return out


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _table(objects: list[dict[str, Any]], include: str) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table with Name and Age columns."""
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [obj["metadata"]["name"], "1d"]}
        if include != "None":
            if include == "Metadata":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": obj["metadata"]}
            else:
                row["object"] = obj
        rows.append(row)
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "1"},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."},
            {"name": "Age", "type": "string", "format": "", "priority": 0,
             "description": "CreationTimestamp is a timestamp representing the server time."},
        ],
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------------
# The server.


def parse_version(git_version: str) -> tuple[str, str]:
    """(major, minor) as a real server reports them: "v1.29.6-eks-1de2ab1" -> ("1", "29+").

    Kubernetes' hack/lib/version.sh appends "+" to minor whenever gitVersion has a "-..."
    part (EKS, GKE, rc and alpha builds), not for a "+..." part alone (k3s).
    """
    match = re.match(r"^v?([0-9]+)\.([0-9]+)(\.[0-9]+)?([-].*)?([+].*)?$", git_version)
    if match is None:
        return "", ""
    return match[1], match[2] + ("+" if match[4] else "")


class Served:
    """A TLS server on a random port of 127.0.0.1, served from a daemon thread.

    Subclasses say which handler and TLS context to serve with (`_make_server`); the start,
    stop and URL of the fake API servers and of the download mirror are this one piece.
    """

    thread_name = "fake-server"
    _httpd: TLSHTTPServer | None = None

    def _make_server(self) -> TLSHTTPServer:
        raise NotImplementedError

    def _stopping_now(self) -> None:
        """Called just before the server stops (wake handlers that wait)."""

    def start(self) -> Self:
        """Listen on a random port of 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is None:
            self._httpd = self._make_server()
            threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                             name=self.thread_name, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and hang up open connections."""
        if self._httpd is None:
            return
        self._stopping_now()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


class FakeAPIServer(Served):
    """A recording fake kube-apiserver on https://127.0.0.1:PORT.

    `version`: the gitVersion /version reports (any form; `major`/`minor` derived like real
    servers, overridable). `require_auth`: every path answers 401 without
    `Authorization: Bearer <t>` for a t in `tokens` (which holds `token` by default), or a
    client certificate from the shared CA when `client_certs` is on (then the server asks
    for one, as kube-apiserver does). `aggregated_discovery`: answer kubectl's aggregated
    discovery (else the legacy documents only). `delay`: seconds to wait before each answer.
    """

    def __init__(
        self,
        version: str = "v1.37.1",
        require_auth: bool = False,
        name: str = "x",
        *,
        major: str | None = None,
        minor: str | None = None,
        emulation: tuple[str, str] | None = None,
        aggregated_discovery: bool = True,
        username: str = "test-user",
        allowed: bool | Callable[[dict[str, str]], bool] = True,
        client_certs: bool = False,
        delay: float = 0.0,
    ) -> None:
        self.name = name
        self.version = version
        guessed = parse_version(version)
        self.major = major if major is not None else guessed[0]
        self.minor = minor if minor is not None else guessed[1]
        self.emulation = emulation
        self.require_auth = require_auth
        self.token = f"token-{name}"
        self.tokens: set[str] = {self.token}
        self.aggregated_discovery = aggregated_discovery
        self.client_certs = client_certs
        self.delay = delay
        self.username = username
        # What access reviews answer: a bool, or a function of the review's attributes
        # ({"verb": "delete", "resource": "pods", "namespace": ...}) returning one.
        self.allowed = allowed
        self.ca = session_ca()
        self._requests: list[Request] = []
        self.errors: list[str] = []  # tracebacks of the fake's own bugs (answered 500)
        self._lock = threading.Lock()
        self._objects: dict[str, dict[str, Any]] = {}
        self._missing: set[str] = set()
        self._deleted: set[str] = set()
        self.watch_seconds = 1.2  # how long an (always empty) watch stays open
        self._stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    def _make_server(self) -> TLSHTTPServer:
        self._stopping.clear()
        self.thread_name = f"fakeapi-{self.name}"
        handler = type("Handler", (_APIHandler,), {"api": self})
        context = self.ca.mtls_context if self.client_certs else self.ca.server_context
        return TLSHTTPServer(handler, context)

    def _stopping_now(self) -> None:
        self._stopping.set()

    # -- recorded requests ------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """A snapshot of every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def writes(self) -> list[Request]:
        """Persisting writes received (see `is_write`)."""
        return [r for r in self.requests if is_write(r)]

    def streams(self) -> list[Request]:
        """exec/attach/port-forward/proxy requests received (see `is_stream`)."""
        return [r for r in self.requests if is_stream(r)]

    def paths(self, method: str | None = None) -> list[str]:
        """The paths requested (optionally only for one method): handy in assertions."""
        return [r.path for r in self.requests if method is None or r.method == method]

    def _record(self, req: Request) -> None:
        with self._lock:
            self._requests.append(req)

    # -- canned state -----------------------------------------------------------------------------

    def set_object(self, obj: dict[str, Any]) -> str:
        """Serve `obj` at its path and list it in its collection; returns the path.

        Needs apiVersion, kind and metadata.name; the rest of metadata is filled in.
        """
        obj = copy.deepcopy(obj)
        path = object_path(obj)
        meta = obj["metadata"]
        meta.setdefault("uid", _uid(path))
        meta.setdefault("resourceVersion", "1")
        meta.setdefault("creationTimestamp", CREATED)
        rp = parse_resource_path(path)
        if rp is not None and rp.namespace:
            meta.setdefault("namespace", rp.namespace)
        with self._lock:
            self._objects[path] = obj
            self._missing.discard(path)
        return path

    def set_missing(self, path: str) -> None:
        """Answer 404 for GETs of this object path (e.g. so `kubectl apply` creates)."""
        with self._lock:
            self._missing.add(path.rstrip("/"))
            self._objects.pop(path.rstrip("/"), None)

    def _note_deleted(self, path: str) -> None:
        with self._lock:
            self._deleted.add(path)

    def _take_deleted(self, path: str) -> bool:
        """Whether `path` was deleted since its last GET: then this GET answers 404, once.

        kubectl waits for a deletion by GETting the object until it is gone (`delete`,
        `replace --force`); later commands (`exec` on the same pod) must still find it.
        """
        with self._lock:
            if path in self._deleted:
                self._deleted.discard(path)
                return True
            return False

    def _lookup(self, path: str) -> tuple[bool, dict[str, Any] | None]:
        """(missing, explicit object) for a named path."""
        with self._lock:
            return path in self._missing, copy.deepcopy(self._objects.get(path))

    def _listed(self, rp: ResourcePath) -> list[dict[str, Any]]:
        """set_object() objects in a collection (every namespace when rp has none)."""
        with self._lock:
            objects = list(self._objects.items())
        found = []
        for path, obj in objects:
            other = parse_resource_path(path)
            if other and (other.group, other.version, other.resource.name) == (
                    rp.group, rp.version, rp.resource.name) and (
                    rp.namespace is None or other.namespace == rp.namespace):
                found.append(copy.deepcopy(obj))
        return found

    def version_info(self) -> dict[str, Any]:
        """The /version document."""
        doc = {"major": self.major, "minor": self.minor, "gitVersion": self.version,
               "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": CREATED,
               "goVersion": "go1.25.0", "compiler": "gc", "platform": "linux/amd64"}
        if self.emulation:
            doc["emulationMajor"], doc["emulationMinor"] = self.emulation
            doc["minCompatibilityMajor"], doc["minCompatibilityMinor"] = self.emulation
        return doc


def object_path(obj: dict[str, Any]) -> str:
    """The API path of an object from its apiVersion, kind, namespace and name."""
    api_version = obj["apiVersion"]
    group, _, version = api_version.rpartition("/")
    for r in _BY_GV.get((group, version), {}).values():
        if r.kind == obj["kind"]:
            base = f"/apis/{api_version}" if group else f"/api/{version}"
            meta = obj["metadata"]
            if r.namespaced:
                base += f"/namespaces/{meta.get('namespace', 'default')}"
            return f"{base}/{r.name}/{meta['name']}"
    raise ValueError(f"unknown kind {obj['kind']} in {api_version}")


AGGREGATED_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


class _APIHandler(BaseHandler):
    api: FakeAPIServer  # set on the per-server subclass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # -- plumbing -------------------------------------------------------------------------------

    def _handle(self) -> None:
        split = urlsplit(self.path)
        body = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        req = Request(self.command, split.path, query, headers, body,
                      headers.get("content-type", ""), split.query, self.api.name, time.time(),
                      self._client_cn())
        self.api._record(req)
        self.req = req
        if self.api.delay:
            self.api._stopping.wait(self.api.delay)
        authenticated = req.token in self.api.tokens or req.client_cn is not None
        if self.api.require_auth and not authenticated:
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return
        try:
            self.route(req)
        except (ssl.SSLError, OSError):
            raise  # the client went away
        except Exception:  # noqa: BLE001 - reported below, not swallowed
            # A bug here must show in the test, not as a hung-up kubectl: 500 + server.errors.
            error = traceback.format_exc()
            self.api.errors.append(f"{req}\n{error}")
            self.send_json(500, status(500, "InternalError", f"fake API server bug: {error}"))

    def _client_cn(self) -> str | None:
        cert = self.connection.getpeercert() if self.api.client_certs else None
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return None

    def send_json(self, code: int, doc: Any, content_type: str = "application/json",
                  close: bool = False) -> None:
        self.respond(code, json.dumps(doc).encode(), content_type, close=close)

    def not_found(self, what: str = "the server could not find the requested resource") -> None:
        self.send_json(404, status(404, "NotFound", what))

    # -- routing --------------------------------------------------------------------------------

    def route(self, req: Request) -> None:
        path = req.path.rstrip("/") or "/"
        method = req.method
        if path == "/version":
            self.send_json(200, self.api.version_info())
        elif path in ("/healthz", "/livez", "/readyz"):
            self.respond(200, b"ok", "text/plain; charset=utf-8")
        elif path in ("/api", "/apis") and method in ("GET", "HEAD"):
            self.discovery_root(path == "/api")
        elif path == "/openapi/v3":
            self.send_json(200, openapi_v3_root())
        elif path.startswith("/openapi/v3/"):
            parts = path.split("/")[3:]  # api/v1 or apis/GROUP/VERSION
            doc = None
            if parts[:1] == ["api"] and len(parts) == 2:
                doc = openapi_v3_group("", parts[1])
            elif parts[:1] == ["apis"] and len(parts) == 3:
                doc = openapi_v3_group(parts[1], parts[2])
            if doc is None:
                self.not_found()
            else:
                self.respond(200, doc, "application/json")
        elif path.startswith("/openapi/"):
            self.not_found()  # no OpenAPI v2: kubectl falls back to its built-in types
        elif method in ("GET", "HEAD") and self.discovery_group(path):
            pass
        else:
            rp = parse_resource_path(path)
            if rp is None:
                self.not_found()
            else:
                self.resource(req, rp, path)

    def discovery_root(self, core: bool) -> None:
        accept = self.req.headers.get("accept", "")
        if self.api.aggregated_discovery and "as=APIGroupDiscoveryList" in accept:
            # kubectl asks for v2 (and v2beta1); the content type says which one it got.
            self.send_json(200, aggregated_discovery(core), AGGREGATED_TYPE)
        elif core:
            self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                 "serverAddressByClientCIDRs": [
                                     {"clientCIDR": "0.0.0.0/0",
                                      "serverAddress": f"127.0.0.1:{self.api.port}"}]})
        else:
            self.send_json(200, legacy_api_group_list())

    def discovery_group(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        if parts == ["api", "v1"]:
            self.send_json(200, legacy_resource_list("", "v1"))
            return True
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in RESOURCES:
            self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1",
                                 **_group_doc(parts[1], RESOURCES[parts[1]])})
            return True
        if len(parts) == 3 and parts[0] == "apis":
            doc = legacy_resource_list(parts[1], parts[2])
            if doc is not None:
                self.send_json(200, doc)
                return True
        return False

    # -- resources ------------------------------------------------------------------------------

    def resource(self, req: Request, rp: ResourcePath, path: str) -> None:
        r = rp.resource
        method = req.method
        sub = rp.subresource
        verb = {"GET": "list" if rp.name is None else "get", "HEAD": "get", "POST": "create",
                "PUT": "update", "PATCH": "patch",
                "DELETE": "deletecollection" if rp.name is None else "delete"}[method]
        if sub in STREAM_SUBRESOURCES or "upgrade" in req.headers:
            self.stream(req, rp)
            return
        allowed = r.subresources[sub].verbs if sub else r.verbs
        if verb not in allowed or (verb == "create" and rp.name and not sub):
            self.send_json(405, status(405, "MethodNotAllowed",
                                       f"the server does not allow this method on {r.name}"))
            return
        if method == "POST" and rp.group in REVIEW_GROUPS:
            self.review(req, rp)
            return
        if rp.name is None:
            self.collection(req, rp, path)
            return
        name = rp.name
        object_path_ = path if sub is None else path.rsplit("/", 1)[0]
        missing, explicit = self.api._lookup(object_path_)
        if method in ("GET", "HEAD") and sub is None and self.api._take_deleted(object_path_):
            missing = True
        if missing and method != "PUT":
            self.send_json(404, status(404, "NotFound", f'{r.name} "{name}" not found',
                                       {"name": name, "group": rp.group, "kind": r.name}))
            return
        obj = explicit or synthetic_object(rp, name, self.api.version)
        if sub == "log":
            self.respond(200, f"log line from {name}\n".encode(), "text/plain")
        elif sub == "scale":
            replicas = int(obj.get("spec", {}).get("replicas", 1))
            doc = scale_object(rp, name, replicas)
            patch = req.json()
            if method in ("PUT", "PATCH") and isinstance(patch, dict):
                doc = _merge(doc, patch)
            self.send_json(200, doc)
        elif sub == "token":
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            self.send_json(201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                                 "metadata": {"name": name, "namespace": rp.namespace},
                                 "spec": {"audiences": ["https://kubernetes.default.svc"],
                                          "expirationSeconds": 3600},
                                 "status": {"token": f"fake-sa-token-{name}",
                                            "expirationTimestamp": expires}})
        elif sub == "eviction":
            self.send_json(201, status(201, "", "", None) | {"status": "Success"})
        elif method in ("GET", "HEAD"):
            self.send_object(req, obj)
        elif method == "DELETE":
            if "All" not in req.query_all("dryRun"):
                self.api._note_deleted(object_path_)
            # Also a uid other than the one GETs report: a wait-for-deletion that finds the
            # object anyway takes it for a new one of the same name, and ends.
            gone = _uid(object_path_, "deleted")
            self.send_json(200, status(200, "", "", {"name": name, "group": rp.group,
                                                      "kind": r.name, "uid": gone}))
        else:  # PUT, PATCH
            patch = req.object()
            if req.content_type.startswith(PROTOBUF_TYPE):
                patch = None  # only the gist was decoded: answer the object as it is
            if method == "PUT" and isinstance(patch, dict):
                result = patch
            else:
                result = _merge(obj, patch) if isinstance(patch, dict) else obj
            result.setdefault("metadata", {}).setdefault("name", name)
            self.send_json(200, result)

    def collection(self, req: Request, rp: ResourcePath, path: str) -> None:
        r = rp.resource
        if req.method == "POST":
            obj = req.object()
            if obj is None or req.content_type.startswith(PROTOBUF_TYPE):
                # Only the gist of protobuf is decoded: answer a synthetic object so named.
                meta = (obj or {}).get("metadata", {})
                name = meta.get("name") or meta.get("generateName", "created-") + "x7k2p"
                obj = synthetic_object(rp, name, self.api.version)
            meta = obj.setdefault("metadata", {})
            if "name" not in meta and meta.get("generateName"):
                meta["name"] = meta["generateName"] + "x7k2p"
            meta.setdefault("name", "created")
            if r.namespaced:
                meta.setdefault("namespace", rp.namespace or "default")
            meta.setdefault("uid", _uid(path, meta["name"]))
            meta.setdefault("resourceVersion", "1")
            meta.setdefault("creationTimestamp", CREATED)
            obj.setdefault("kind", r.kind)
            obj.setdefault("apiVersion", rp.api_version)
            self.send_json(201, obj)
        elif req.method == "DELETE":
            self.send_json(200, status(200, "", ""))
        elif req.query.get("watch") in ("true", "1"):
            self.watch(req, rp, self.items(req, rp, path))
        else:
            self.send_list(req, rp, self.items(req, rp, path))

    def items(self, req: Request, rp: ResourcePath, path: str) -> list[dict[str, Any]]:
        """A collection's objects: none unless set_object() added some, or a name is selected."""
        selector = req.query.get("fieldSelector", "")
        if selector.startswith("metadata.name="):
            # What kubectl wait / rollout status ask for: the object a named GET would give.
            wanted = selector.split("=", 1)[1].split(",")[0]
            missing, explicit = self.api._lookup(f"{path}/{wanted}")
            return [] if missing else [explicit or synthetic_object(rp, wanted, self.api.version)]
        listed = self.api._listed(rp)
        labels = req.query.get("labelSelector", "")
        if listed or not labels.startswith("app="):
            return listed
        app = labels[4:].split(",")[0]
        if rp.resource.name == "replicasets":
            # What `rollout history|undo deploy/NAME` look for: the deployment's history.
            return replica_set_history(rp, app)
        if rp.resource.name == "pods":
            # What `logs deploy/NAME` and `exec deploy/NAME` look for: one of its pods.
            pod = synthetic_object(rp, f"{app}-{hashlib.sha256(app.encode()).hexdigest()[:5]}")
            pod["metadata"]["labels"] = {"app": app}
            return [pod]
        return listed

    def watch(self, req: Request, rp: ResourcePath, items: list[dict[str, Any]]) -> None:
        """A watch: the initial events when asked, then silence for `watch_seconds`, then EOF.

        client-go's watch-list (`sendInitialEvents=true`) needs the objects as ADDED events and
        a BOOKMARK marked initial-events-end. Ending the stream lets `kubectl get -w` return;
        not ending it at once avoids client-go's "very short watch" warning.
        """
        seconds = self.api.watch_seconds
        if req.query.get("timeoutSeconds", "").isdigit():
            seconds = min(seconds, float(req.query["timeoutSeconds"]))
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n\r\n")
        events = []
        if req.query.get("sendInitialEvents") == "true":
            table = "as=Table" in req.headers.get("accept", "")
            for obj in items:
                events.append({"type": "ADDED", "object": _table([obj], "Object") if table else obj})
            events.append({"type": "BOOKMARK", "object": {
                "kind": rp.resource.kind, "apiVersion": rp.api_version,
                "metadata": {"resourceVersion": "1",
                             "annotations": {"k8s.io/initial-events-end": "true"}}}})
        data = b"".join(_chunk(json.dumps(e).encode() + b"\n") for e in events)
        self.wfile.write(head.encode() + data)
        self.api._stopping.wait(seconds)
        self.wfile.write(b"0\r\n\r\n")

    def send_object(self, req: Request, obj: dict[str, Any]) -> None:
        if "as=Table" in req.headers.get("accept", ""):
            self.send_json(200, _table([obj], req.query.get("includeObject", "Object")))
        else:
            self.send_json(200, obj)

    def send_list(self, req: Request, rp: ResourcePath, items: list[dict[str, Any]]) -> None:
        if "as=Table" in req.headers.get("accept", ""):
            self.send_json(200, _table(items, req.query.get("includeObject", "Object")))
        else:
            self.send_json(200, {"kind": rp.resource.kind + "List", "apiVersion": rp.api_version,
                                 "metadata": {"resourceVersion": "1"}, "items": items})


    def review(self, req: Request, rp: ResourcePath) -> None:
        """Answer self/token/access reviews: allowed, authenticated, as `username`."""
        body = req.object() or {}
        spec = body.get("spec") or {}
        doc: dict[str, Any] = {"kind": rp.resource.kind, "apiVersion": rp.api_version,
                               "metadata": {"creationTimestamp": None}, "spec": spec}
        user = {"username": self.api.username, "groups": ["system:authenticated"]}
        kind = rp.resource.kind
        if kind == "SelfSubjectReview":
            doc.pop("spec")
            doc["status"] = {"userInfo": user}
        elif kind == "TokenReview":
            doc["status"] = {"authenticated": True, "user": user}
        elif kind == "SelfSubjectRulesReview":
            doc["status"] = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"],
                                                "resources": ["*"]}],
                             "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                             "incomplete": False}
        else:
            rule = self.api.allowed
            attrs = spec.get("resourceAttributes") or spec.get("nonResourceAttributes") or {}
            allowed = bool(rule(attrs) if callable(rule) else rule)
            doc["status"] = {"allowed": allowed}
            if not allowed:
                doc["status"]["denied"] = True
        self.send_json(201, doc)

    def stream(self, req: Request, rp: ResourcePath) -> None:
        """exec/attach/portforward/proxy: recorded, refused (no streaming here)."""
        msg = f"fake API server: {rp.subresource or 'upgrade'} is not supported"
        self.send_json(403, status(403, "Forbidden", msg), close=True)


# ---------------------------------------------------------------------------------------------
# Kubeconfig files for tests.


def write_kubeconfig(path: str | os.PathLike[str], contexts: list[dict[str, Any]],
                     current: str | None = None) -> dict[str, Any]:
    """Write a kubeconfig (YAML, mode 0600) and return it as a dict.

    Each context dict: `name` and `server` (a FakeAPIServer or a URL) are required. Optional:
    `namespace`; `cluster` and `user` names (default: the context name); `token` (default:
    the server's `token`, else "token-<name>"; None for none); `token_file`: True writes the
    token to a file beside the kubeconfig and refers to it (`tokenFile`); `client_cert`:
    "data" or "file" adds a client certificate for CN=<user> (then no token unless given);
    `ca`: "data" (default, the shared CA inline), "file" (absolute path of its PEM),
    "relative" (a copy beside the kubeconfig, named relatively: `ca.crt`), "insecure" or
    "none"; `user_config` replaces the whole user body (an exec plugin, say); `extensions`
    is merged into the cluster. Clusters and users shared by several contexts are written once.
    """
    import yaml

    ca = session_ca()
    target = Path(path)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    clusters: dict[str, dict[str, Any]] = {}
    users: dict[str, dict[str, Any]] = {}
    ctxs = []
    for spec in contexts:
        name = spec["name"]
        server = spec["server"]
        url = server.url if isinstance(server, FakeAPIServer) else str(server)
        cluster_name = spec.get("cluster", name)
        user_name = spec.get("user", name)
        cluster: dict[str, Any] = {"server": url}
        mode = spec.get("ca", "data")
        if mode == "data":
            cluster["certificate-authority-data"] = ca.pem_b64
        elif mode == "file":
            cluster["certificate-authority"] = ca.pem_path
        elif mode == "relative":
            (folder / "ca.crt").write_bytes(ca.pem)
            cluster["certificate-authority"] = "ca.crt"
        elif mode == "insecure":
            cluster["insecure-skip-tls-verify"] = True
        cluster.update(spec.get("extensions", {}))
        clusters.setdefault(cluster_name, cluster)
        users.setdefault(user_name, _user_entry(spec, server, name, user_name, folder))
        ctx: dict[str, Any] = {"cluster": cluster_name, "user": user_name}
        if spec.get("namespace"):
            ctx["namespace"] = spec["namespace"]
        ctxs.append({"name": name, "context": ctx})
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": ctxs,
        "current-context": current if current is not None else (ctxs[0]["name"] if ctxs else ""),
    }
    target.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    os.chmod(target, 0o600)
    return doc


def _user_entry(spec: dict[str, Any], server: Any, name: str, user_name: str,
                folder: Path) -> dict[str, Any]:
    if "user_config" in spec:
        return dict(spec["user_config"])
    user: dict[str, Any] = {}
    cert_mode = spec.get("client_cert")
    if cert_mode:
        cert = session_ca().client_cert(user_name)
        if cert_mode == "file":
            user["client-certificate"], user["client-key"] = cert.cert_path, cert.key_path
        else:
            user["client-certificate-data"] = base64.b64encode(cert.cert_pem).decode()
            user["client-key-data"] = base64.b64encode(cert.key_pem).decode()
    default = None if cert_mode else (server.token if isinstance(server, FakeAPIServer)
                                      else f"token-{name}")
    token = spec.get("token", default)
    if token is not None and spec.get("token_file"):
        # Hashed file name: user names in tests can be hostile ("../x", "$(touch y)").
        token_path = folder / f"token-{hashlib.sha256(user_name.encode()).hexdigest()[:12]}"
        token_path.write_text(token)
        os.chmod(token_path, 0o600)
        user["tokenFile"] = str(token_path)
    elif token is not None:
        user["token"] = token
    return user


def write_plugin(folder: Path, token: str, name: str = "auth-plugin") -> Path:
    """An exec credential plugin printing an ExecCredential with `token`; counts its runs."""
    script = folder / name
    script.write_text(
        "#!/bin/sh\n"
        f"echo run >> '{folder}/plugin-runs'\n"
        "echo '{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", "
        f"\"status\": {{\"token\": \"{token}\"}}}}'\n")
    script.chmod(0o755)
    return script


def exec_user(command: str, args: list[str] | None = None) -> dict[str, Any]:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command,
                     "args": args or [], "interactiveMode": "Never"}}
