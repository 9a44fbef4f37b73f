"""Synthetic objects: a healthy object of the right kind for any name, lists, tables, statuses."""
from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from .catalogue import ResourcePath

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


def object_uid(*parts: str) -> str:
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
        "uid": object_uid(rp.api_version, r.name, rp.namespace or "", name),
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
             "uid": object_uid("apps/v1", "deployments", namespace, deployment)}
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
                     "uid": object_uid(rp.api_version, rp.resource.name, rp.namespace or "", name),
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


def merge_patch(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge (good enough for merge, strategic and apply patches here)."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        elif not key.startswith("$"):
            out[key] = value
    return out


def http_chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def as_table(objects: list[dict[str, Any]], include: str) -> dict[str, Any]:
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
