"""Reading user kubeconfigs and splitting them into one self-contained document per context."""

import os
from dataclasses import dataclass
from typing import Any

from kctx.errors import FatalError

# Fields holding file paths, which kubectl resolves against the kubeconfig's own folder.
CLUSTER_PATHS = ("certificate-authority",)
USER_PATHS = ("client-certificate", "client-key", "tokenFile")


@dataclass
class Split:
    """One context of a source kubeconfig, with its cluster and user, paths made absolute."""

    context: str
    cluster_name: str
    cluster: dict[str, Any]
    user_name: str
    user: dict[str, Any] | None
    namespace: str | None


def yaml_load(text: str, origin: str) -> Any:
    """Parse YAML with the C loader when present; one-line FatalError on bad input."""
    import yaml

    from kctx import yamlio

    try:
        return yamlio.load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise FatalError(f"{origin}: not valid YAML{where}") from None


def yaml_dump(doc: Any) -> str:
    from kctx import yamlio

    return yamlio.dump(doc)


def read(path: str) -> dict[str, Any]:
    """A kubeconfig file as a mapping, or a FatalError naming the file and the problem."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FatalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FatalError(f"{path}: is a folder, not a kubeconfig file") from None
    except OSError as e:
        raise FatalError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FatalError(f"{path}: not a kubeconfig (not UTF-8 text)") from None
    doc = yaml_load(text, path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise FatalError(f"{path}: not a kubeconfig (expected a mapping at the top level)")
    return doc


def _named(doc: dict[str, Any], key: str, inner: str, path: str) -> dict[str, dict[str, Any]]:
    items = doc.get(key) or []
    if not isinstance(items, list):
        raise FatalError(f"{path}: '{key}' must be a list")
    out: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise FatalError(f"{path}: {key}[{i}] has no name")
        body = item.get(inner) or {}
        if not isinstance(body, dict):
            raise FatalError(f"{path}: {key}[{i}] ('{item['name']}') is not a mapping")
        # Like kubectl: the first definition of a name wins.
        out.setdefault(item["name"], body)
    return out


def _absolute(value: Any, base: str) -> Any:
    if isinstance(value, str) and value and not os.path.isabs(value):
        return os.path.normpath(os.path.join(base, value))
    return value


def absolutise(cluster: dict[str, Any], user: dict[str, Any] | None, base: str) -> None:
    """Make relative paths absolute against `base`, the folder of the source file (in place)."""
    for key in CLUSTER_PATHS:
        if key in cluster:
            cluster[key] = _absolute(cluster[key], base)
    if not user:
        return
    for key in USER_PATHS:
        if key in user:
            user[key] = _absolute(user[key], base)
    exec_ = user.get("exec")
    if isinstance(exec_, dict):
        cmd = exec_.get("command")
        # kubectl resolves a relative command only when it contains a separator ("./bin/auth");
        # a bare name ("aws") is looked up on PATH.
        if isinstance(cmd, str) and os.sep in cmd:
            exec_["command"] = _absolute(cmd, base)


_IMMUTABLE = frozenset((str, int, float, bool, type(None), bytes))


def _copy(value: Any, depth: int = 0) -> Any:
    """A deep copy of YAML data: dicts and lists rebuilt, immutable scalars shared; about twice as
    fast as copy.deepcopy, 20,000 copies in `kctx import` of 10,000 contexts (bench/store.py).
    Anything else (a set, an alias that makes a cycle) is left to copy.deepcopy."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if depth < 64:
        if kind is dict:
            return {k: _copy(v, depth + 1) for k, v in value.items()}
        if kind is list:
            return [_copy(v, depth + 1) for v in value]
    import copy

    return copy.deepcopy(value)


def split(doc: dict[str, Any], path: str) -> list[Split]:
    """Every context of `doc` with its cluster and user; dangling references are an error."""
    clusters = _named(doc, "clusters", "cluster", path)
    users = _named(doc, "users", "user", path)
    contexts = _named(doc, "contexts", "context", path)
    if not contexts:
        raise FatalError(f"{path}: not a kubeconfig with contexts (no 'contexts' found)")
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for name, ctx in contexts.items():
        cluster_name = ctx.get("cluster")
        if not isinstance(cluster_name, str) or not cluster_name:
            raise FatalError(f"{path}: context '{name}' names no cluster")
        if cluster_name not in clusters:
            raise FatalError(f"{path}: context '{name}' refers to cluster '{cluster_name}', which the file does not define")
        user_name = ctx.get("user") or ""
        if not isinstance(user_name, str):
            raise FatalError(f"{path}: context '{name}' has an invalid user")
        if user_name and user_name not in users:
            raise FatalError(f"{path}: context '{name}' refers to user '{user_name}', which the file does not define")
        namespace = ctx.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise FatalError(f"{path}: context '{name}' has an invalid namespace")
        cluster = _copy(clusters[cluster_name])
        if not isinstance(cluster.get("server"), str) or not cluster["server"]:
            raise FatalError(f"{path}: cluster '{cluster_name}' has no server")
        user = _copy(users[user_name]) if user_name else None
        absolutise(cluster, user, base)
        out.append(Split(name, cluster_name, cluster, user_name, user, namespace or None))
    return out


def entry_document(entry: str, part: Split) -> dict[str, Any]:
    """The kubeconfig stored for one entry: its context renamed to the entry's name."""
    context: dict[str, Any] = {"cluster": part.cluster_name}
    if part.user_name:
        context["user"] = part.user_name
    if part.namespace:
        context["namespace"] = part.namespace
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": part.cluster_name, "cluster": part.cluster}],
        "contexts": [{"name": entry, "context": context}],
        "current-context": entry,
        "preferences": {},
        "users": [],
    }
    if part.user_name:
        doc["users"] = [{"name": part.user_name, "user": part.user or {}}]
    return doc


def describe_entry(doc: dict[str, Any], entry: str, path: str) -> dict[str, Any]:
    """server, cluster, user, namespace and CA fingerprint of `entry`'s context in a stored entry
    file (server_key: the server URL normalised, for the guard's comparisons; ca_sha256: the
    first CA certificate's; ca_bundle: all of them, when there are several)."""
    from kctx.identity import ca_fingerprints, normalise_server

    contexts = _named(doc, "contexts", "context", path)
    ctx = contexts.get(entry) or contexts.get(doc.get("current-context") or "")
    if ctx is None:
        raise FatalError(f"{path}: has no context named '{entry}'")
    clusters = _named(doc, "clusters", "cluster", path)
    cluster = clusters.get(ctx.get("cluster") or "")
    if cluster is None:
        raise FatalError(f"{path}: context '{entry}' refers to a cluster the file does not define")
    cas = ca_fingerprints(cluster, os.path.dirname(os.path.abspath(path)))
    return {
        "server": str(cluster.get("server") or ""),
        "cluster": str(ctx.get("cluster") or ""),
        "user": str(ctx.get("user") or ""),
        "namespace": ctx.get("namespace") if isinstance(ctx.get("namespace"), str) else None,
        "server_key": normalise_server(str(cluster.get("server") or "")),
        "ca_sha256": cas[0] if cas else None,
        "ca_bundle": list(cas) if len(cas) > 1 else None,
    }
