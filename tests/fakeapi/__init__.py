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

The package, from the bottom up: `tls` (the shared CA, the HTTPS server and its lifecycle, which
the download mirror in tests/mirror.py uses too), `catalogue` (resources, discovery, OpenAPI),
`recorded` (the requests it saw), `objects` (what GETs answer), `server` (FakeAPIServer) and
`kubeconfig` (files pointing at the servers). Every name is importable from `fakeapi` itself.
"""
from __future__ import annotations

from .catalogue import (
    ALL,
    ALL_VERBS,
    CONNECT_VERBS,
    CREATE_ONLY,
    EXT,
    GET_UPDATE,
    NO_COLLECTION_DELETE,
    PROXY_VERBS,
    RESOURCES,
    SCALE,
    STATUS,
    Resource,
    ResourcePath,
    Sub,
    aggregated_discovery,
    legacy_api_group_list,
    legacy_resource_list,
    openapi_v3_group,
    openapi_v3_root,
    parse_resource_path,
)
from .kubeconfig import exec_user, write_kubeconfig, write_plugin
from .objects import CREATED, replica_set_history, scale_object, status, synthetic_object
from .recorded import (
    PROTOBUF_TYPE,
    REVIEW_GROUPS,
    STREAM_SUBRESOURCES,
    Request,
    decode_protobuf,
    is_stream,
    is_write,
)
from .server import AGGREGATED_TYPE, FakeAPIServer, object_path, parse_version
from .tls import BaseHandler, ClientCert, Served, SharedCA, TLSHTTPServer, session_ca

__all__ = [
    "AGGREGATED_TYPE",
    "ALL",
    "ALL_VERBS",
    "CONNECT_VERBS",
    "CREATED",
    "CREATE_ONLY",
    "EXT",
    "GET_UPDATE",
    "NO_COLLECTION_DELETE",
    "PROTOBUF_TYPE",
    "PROXY_VERBS",
    "RESOURCES",
    "REVIEW_GROUPS",
    "SCALE",
    "STATUS",
    "STREAM_SUBRESOURCES",
    "BaseHandler",
    "ClientCert",
    "FakeAPIServer",
    "Request",
    "Resource",
    "ResourcePath",
    "Served",
    "SharedCA",
    "Sub",
    "TLSHTTPServer",
    "aggregated_discovery",
    "decode_protobuf",
    "exec_user",
    "is_stream",
    "is_write",
    "legacy_api_group_list",
    "legacy_resource_list",
    "object_path",
    "openapi_v3_group",
    "openapi_v3_root",
    "parse_resource_path",
    "parse_version",
    "replica_set_history",
    "scale_object",
    "session_ca",
    "status",
    "synthetic_object",
    "write_kubeconfig",
    "write_plugin",
]
