"""Kubeconfigs in the shapes the cloud and local tools write them (field order, plugins, names).

Each function writes one file and returns its path; `server` may be a URL or a FakeAPIServer.
The exec plugins are not run by these tests (kctx never runs them on import); their shape is
what `aws eks update-kubeconfig`, `eksctl`, `gcloud container clusters get-credentials`,
`az aks get-credentials` + `kubelogin convert-kubeconfig`, `oc login`, `kubeadm init`, `kind`
and `minikube` write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from fakeapi import FakeAPIServer, session_ca


def _url(server: Any) -> str:
    return server.url if isinstance(server, FakeAPIServer) else str(server)


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=True))
    path.chmod(0o600)
    return path


def _doc(clusters: list[Any], contexts: list[Any], users: list[Any], current: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": clusters,
            "contexts": contexts, "users": users, "current-context": current}


def eks(path: Path, clusters: list[tuple[str, str, str, Any]], alias: str | None = None) -> Path:
    """aws eks update-kubeconfig: [(region, account, name, server)]; context, cluster and user all
    named by the ARN (or the context by --alias)."""
    cl, ctx, us = [], [], []
    for region, account, name, server in clusters:
        arn = f"arn:aws:eks:{region}:{account}:cluster/{name}"
        cl.append({"cluster": {"certificate-authority-data": session_ca().pem_b64, "server": _url(server)},
                   "name": arn})
        ctx.append({"context": {"cluster": arn, "user": arn}, "name": alias or arn})
        us.append({"name": arn, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "args": ["--region", region, "eks", "get-token", "--cluster-name", name, "--output", "json"],
            "command": "aws", "env": [{"name": "AWS_PROFILE", "value": "default"}]}}})
    return _write(path, _doc(cl, ctx, us, ctx[0]["name"]))


def eksctl(path: Path, user: str, name: str, region: str, server: Any) -> Path:
    cluster = f"{name}.{region}.eksctl.io"
    ctx = f"{user}@{cluster}"
    return _write(path, _doc(
        [{"cluster": {"certificate-authority-data": session_ca().pem_b64, "server": _url(server)}, "name": cluster}],
        [{"context": {"cluster": cluster, "user": ctx}, "name": ctx}],
        [{"name": ctx, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "args": ["eks", "get-token", "--output", "json", "--cluster-name", name, "--region", region],
            "command": "aws", "env": [{"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}],
            "provideClusterInfo": False}}}], ctx))


def gke(path: Path, clusters: list[tuple[str, str, str, Any]]) -> Path:
    """gcloud container clusters get-credentials: [(project, location, name, server)]."""
    cl, ctx, us = [], [], []
    for project, location, name, server in clusters:
        full = f"gke_{project}_{location}_{name}"
        cl.append({"cluster": {"certificate-authority-data": session_ca().pem_b64, "server": _url(server)},
                   "name": full})
        ctx.append({"context": {"cluster": full, "user": full}, "name": full})
        us.append({"name": full, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "gke-gcloud-auth-plugin",
            "installHint": "Install gke-gcloud-auth-plugin for use with kubectl by following "
                           "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin",
            "provideClusterInfo": True}}})
    return _write(path, _doc(cl, ctx, us, ctx[0]["name"]))


def aks(path: Path, name: str, group: str, server: Any) -> Path:
    """az aks get-credentials, then kubelogin convert-kubeconfig -l azurecli."""
    user = f"clusterUser_{group}_{name}"
    return _write(path, _doc(
        [{"cluster": {"certificate-authority-data": session_ca().pem_b64, "server": _url(server)}, "name": name}],
        [{"context": {"cluster": name, "user": user}, "name": name}],
        [{"name": user, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "args": ["get-token", "--login", "azurecli", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"],
            "command": "kubelogin", "env": None, "installHint": "\nkubelogin is not installed ...\n",
            "interactiveMode": "IfAvailable", "provideClusterInfo": False}}}], name))


def openshift(path: Path, namespace: str, user: str, server: Any) -> Path:
    """oc login: NAMESPACE/API-HOST:PORT/USER, the cluster named after the API host with dashes."""
    url = _url(server)
    hostport = url.split("://", 1)[1].rstrip("/")
    cluster = hostport.replace(".", "-")
    ctx = f"{namespace}/{cluster}/{user}"
    return _write(path, _doc(
        [{"cluster": {"server": url, "certificate-authority-data": session_ca().pem_b64}, "name": cluster}],
        [{"context": {"cluster": cluster, "namespace": namespace, "user": f"{user}/{cluster}"}, "name": ctx}],
        [{"name": f"{user}/{cluster}", "user": {"token": "sha256~openshift-token"}}], ctx))


def kubeadm(path: Path, server: Any) -> Path:
    """kubeadm's admin.conf."""
    return _write(path, _doc(
        [{"cluster": {"certificate-authority-data": session_ca().pem_b64, "server": _url(server)}, "name": "kubernetes"}],
        [{"context": {"cluster": "kubernetes", "user": "kubernetes-admin"}, "name": "kubernetes-admin@kubernetes"}],
        [{"name": "kubernetes-admin", "user": {"token": "kubeadm-admin-token"}}], "kubernetes-admin@kubernetes"))


def kind(path: Path, name: str, server: Any) -> Path:
    full = f"kind-{name}"
    return _write(path, _doc(
        [{"cluster": {"certificate-authority-data": session_ca().pem_b64, "server": _url(server)}, "name": full}],
        [{"context": {"cluster": full, "user": full}, "name": full}],
        [{"name": full, "user": {"token": "kind-token"}}], full))


def minikube(path: Path, server: Any) -> Path:
    ext = [{"extension": {"last-update": "Mon, 01 Dec 2026 10:00:00 UTC", "provider": "minikube.sigs.k8s.io",
                          "version": "v1.34.0"}, "name": "cluster_info"}]
    return _write(path, _doc(
        [{"cluster": {"certificate-authority-data": session_ca().pem_b64, "extensions": ext,
                      "server": _url(server)}, "name": "minikube"}],
        [{"context": {"cluster": "minikube", "extensions": ext, "namespace": "default", "user": "minikube"},
          "name": "minikube"}],
        [{"name": "minikube", "user": {"token": "minikube-token"}}], "minikube"))
