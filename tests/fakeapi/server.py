"""The recording fake kube-apiserver (`FakeAPIServer`) and its request handler."""
from __future__ import annotations

import copy
import hashlib
import json
import re
import ssl
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .catalogue import (
    BY_GROUP_VERSION,
    RESOURCES,
    ResourcePath,
    aggregated_discovery,
    group_doc,
    legacy_api_group_list,
    legacy_resource_list,
    openapi_v3_group,
    openapi_v3_root,
    parse_resource_path,
)
from .objects import (
    CREATED,
    as_table,
    http_chunk,
    merge_patch,
    object_uid,
    replica_set_history,
    scale_object,
    status,
    synthetic_object,
)
from .recorded import (
    PROTOBUF_TYPE,
    REVIEW_GROUPS,
    STREAM_SUBRESOURCES,
    Request,
    is_stream,
    is_write,
)
from .tls import BaseHandler, Served, TLSHTTPServer, session_ca

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
        meta.setdefault("uid", object_uid(path))
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
    for r in BY_GROUP_VERSION.get((group, version), {}).values():
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
                                 **group_doc(parts[1], RESOURCES[parts[1]])})
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
                doc = merge_patch(doc, patch)
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
            gone = object_uid(object_path_, "deleted")
            self.send_json(200, status(200, "", "", {"name": name, "group": rp.group,
                                                      "kind": r.name, "uid": gone}))
        else:  # PUT, PATCH
            patch = req.object()
            if req.content_type.startswith(PROTOBUF_TYPE):
                patch = None  # only the gist was decoded: answer the object as it is
            if method == "PUT" and isinstance(patch, dict):
                result = patch
            else:
                result = merge_patch(obj, patch) if isinstance(patch, dict) else obj
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
            meta.setdefault("uid", object_uid(path, meta["name"]))
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
                events.append({"type": "ADDED", "object": as_table([obj], "Object") if table else obj})
            events.append({"type": "BOOKMARK", "object": {
                "kind": rp.resource.kind, "apiVersion": rp.api_version,
                "metadata": {"resourceVersion": "1",
                             "annotations": {"k8s.io/initial-events-end": "true"}}}})
        data = b"".join(http_chunk(json.dumps(e).encode() + b"\n") for e in events)
        self.wfile.write(head.encode() + data)
        self.api._stopping.wait(seconds)
        self.wfile.write(b"0\r\n\r\n")

    def send_object(self, req: Request, obj: dict[str, Any]) -> None:
        if "as=Table" in req.headers.get("accept", ""):
            self.send_json(200, as_table([obj], req.query.get("includeObject", "Object")))
        else:
            self.send_json(200, obj)

    def send_list(self, req: Request, rp: ResourcePath, items: list[dict[str, Any]]) -> None:
        if "as=Table" in req.headers.get("accept", ""):
            self.send_json(200, as_table(items, req.query.get("includeObject", "Object")))
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
