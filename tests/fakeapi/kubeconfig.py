"""Kubeconfig files for tests, and exec credential plugins."""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from .server import FakeAPIServer
from .tls import session_ca

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
