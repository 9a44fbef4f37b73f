"""The resource catalogue behind discovery and path parsing, and the discovery and OpenAPI v3
documents kubectl reads from it."""
from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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

BY_GROUP_VERSION: dict[tuple[str, str], dict[str, Resource]] = {
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
    table = BY_GROUP_VERSION.get((group, version))
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


def group_doc(group: str, versions: Iterable[str]) -> dict[str, Any]:
    vs = [{"groupVersion": _gv(group, v), "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def legacy_api_group_list() -> dict[str, Any]:
    """APIGroupList for /apis."""
    groups = [group_doc(g, vs) for g, vs in RESOURCES.items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def legacy_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """APIResourceList for /api/v1 or /apis/GROUP/VERSION."""
    table = BY_GROUP_VERSION.get((group, version))
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
            for (group, version), table in BY_GROUP_VERSION.items():
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
