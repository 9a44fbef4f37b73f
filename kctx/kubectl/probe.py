"""Learning a server's version (GET /version), cached per server URL.

The request uses the entry's own TLS settings and static credentials, never a credential
plugin; when the server wants credentials only an exec plugin can give, a real kubectl is
asked instead (never `k`). Answers are cached per server URL, not per entry name, so two
entries on one cluster share them. The cache is JSON for people and one small marshal file per
server for the hot paths, written together, atomically, under a lock.

Module level imports stay cheap: `k` and `kctx use` read the cache through this module.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

from kctx import paths
from kctx.fsutil import read_marshal

TYPE_CHECKING = False  # typing costs milliseconds to import; `k` imports this module
if TYPE_CHECKING:
    import ssl
    from typing import Any

CACHE_VERSION = 1
EXEC_GRACE = 10.0  # extra seconds a credential plugin may take when kubectl asks for us


# -- the cache ----------------------------------------------------------------------------------
# server-versions.json holds every server's record, for people and for `kctx list`/doctor; each
# record is also in a small marshal file of its own, so `k` reads one record however many
# servers the cache knows (unmarshalling a 1,000-server file costs milliseconds).

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def hot_key(server: str) -> str:
    """A file name for a server URL: readable, injective, and short enough for any file system."""
    raw = server.encode("utf-8", "surrogateescape")
    key = "".join(chr(b) if b in _SAFE else f"_{b:02x}" for b in raw)
    if len(key) <= 150:
        return key
    h = 0xCBF29CE484222325  # FNV-1a, 64 bits: no hashlib import on the hot path
    for b in raw:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{key[:120]}~{h:016x}"


def load_cache() -> dict[str, dict[str, Any]]:
    """{server URL: record} for every server known; {} when the cache is missing or damaged."""
    import json

    try:
        with open(paths.server_versions_file(), encoding="utf-8") as f:
            doc = json.load(f)
        if isinstance(doc, dict) and doc.get("version") == CACHE_VERSION and isinstance(doc.get("servers"), dict):
            return {k: v for k, v in doc["servers"].items() if isinstance(v, dict)}
    except (OSError, ValueError):
        pass
    return {}


def cached_fast(server: str) -> dict[str, Any] | None:
    """One server's record from its marshal file (the hot path), None when unknown."""
    if not server:
        return None
    try:
        version, rec = read_marshal(paths.server_version_hot_file(hot_key(server)))
        if version == CACHE_VERSION and isinstance(rec, dict):
            return rec
    except (OSError, EOFError, ValueError, TypeError):
        pass
    return None


def is_fresh(rec: dict[str, Any] | None, ttl: float, now: float | None = None) -> bool:
    """A version is known and younger than the TTL."""
    if not rec or not rec.get("kubectl"):
        return False
    return (now or time.time()) - float(rec.get("checked") or 0) < ttl


def may_probe(rec: dict[str, Any] | None, ttl: float, now: float | None = None) -> bool:
    """Not during the back-off after failed attempts (5 minutes doubling to 6 hours, at most
    the TTL): an unreachable server costs one attempt per back-off window, not one per `k`."""
    if not rec or not rec.get("failed"):
        return True
    from kctx.kubectl.failures import backoff

    wait = min(backoff(int(rec.get("failures") or 1)), ttl)
    return (now or time.time()) - float(rec["failed"]) >= wait


def save(server: str, result: dict[str, Any]) -> dict[str, Any]:
    """Merge one probe result into the cache; a failure keeps the last known version."""
    import json

    from kctx.fsutil import atomic_write, ensure_dir, file_lock

    ensure_dir(paths.cache_dir())
    with file_lock(paths.versions_lock_file()):
        servers = load_cache()
        rec = dict(servers.get(server) or {})
        if result.get("ok"):
            rec = {k: v for k, v in result.items() if k != "ok"}
            rec["error"] = rec["failed"] = None
            rec["failures"] = 0
        else:
            rec["error"] = result.get("error") or "unknown error"
            rec["failed"] = result.get("checked") or time.time()
            rec["unreachable"] = bool(result.get("unreachable"))
            rec["failures"] = int(rec.get("failures") or 0) + 1
        servers[server] = rec
        doc = {"version": CACHE_VERSION, "servers": dict(sorted(servers.items()))}
        ensure_dir(os.path.dirname(paths.server_version_hot_file("x")))
        atomic_write(paths.server_version_hot_file(hot_key(server)), marshal.dumps((CACHE_VERSION, rec)), fsync=False)
        atomic_write(paths.server_versions_file(), json.dumps(doc, indent=1) + "\n", fsync=False)
    return rec


# -- asking the server ------------------------------------------------------------------------


def _ok(info: dict[str, Any], via: str) -> dict[str, Any]:
    from kctx.kubectl import versions

    kv = versions.from_version_info(info)
    return {
        "ok": True, "git_version": kv.raw, "kubectl": kv.kubectl(),
        "major": kv.effective[0], "minor": kv.effective[1],
        "emulated": list(kv.emulated) if kv.emulated else None,
        "checked": time.time(), "via": via,
    }


def _fail(error: str, unreachable: bool = False) -> dict[str, Any]:
    return {"ok": False, "error": error, "unreachable": unreachable, "checked": time.time()}


def _entry_parts(path: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster and user of `name`'s context in an entry file."""
    from kctx import kubeconfig
    from kctx.errors import FatalError

    doc = kubeconfig.read(path)
    contexts = kubeconfig._named(doc, "contexts", "context", path)
    ctx = contexts.get(name) or contexts.get(doc.get("current-context") or "")
    if ctx is None:
        raise FatalError(f"{path}: has no context named '{name}'")
    cluster = kubeconfig._named(doc, "clusters", "cluster", path).get(ctx.get("cluster") or "")
    if cluster is None:
        raise FatalError(f"{path}: context '{name}' refers to a cluster the file does not define")
    user = kubeconfig._named(doc, "users", "user", path).get(ctx.get("user") or "") or {}
    return cluster, user


def _b64(value: Any) -> bytes:
    import base64

    return base64.b64decode(str(value))


def _ssl_context(cluster: dict[str, Any], user: dict[str, Any], tmp: str, warn: Any, name: str) -> ssl.SSLContext:
    import ssl

    if cluster.get("insecure-skip-tls-verify") is True:
        warn(f"entry {name}: insecure-skip-tls-verify is set, so the server's certificate is not checked")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cluster.get("certificate-authority-data"):
        # Like kubectl: a CA given in the kubeconfig is the only one trusted for this server.
        ctx = ssl.create_default_context(cadata=_b64(cluster["certificate-authority-data"]).decode("ascii", "replace"))
    elif cluster.get("certificate-authority"):
        ctx = ssl.create_default_context(cafile=str(cluster["certificate-authority"]))
    else:
        from kctx.kubectl.download import system_ssl_context

        ctx = system_ssl_context()
    cert, key = user.get("client-certificate"), user.get("client-key")
    if user.get("client-certificate-data"):
        cert = os.path.join(tmp, "cert.pem")
        _write_private(cert, _b64(user["client-certificate-data"]))
    if user.get("client-key-data"):
        key = os.path.join(tmp, "key.pem")
        _write_private(key, _b64(user["client-key-data"]))
    if cert and key:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _needs_plugin(user: dict[str, Any]) -> bool:
    return bool(user.get("exec") or user.get("auth-provider"))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def probe_https(path: str, name: str, timeout: float, warn: Any = None) -> dict[str, Any]:
    """GET <server>/version with the entry's TLS settings and static credentials."""
    import shutil
    import ssl
    import tempfile

    import httpx

    warn = warn or _stderr
    try:
        cluster, user = _entry_parts(path, name)
    except Exception as e:  # noqa: BLE001 - reported as the probe's error
        return _fail(str(e))
    server = str(cluster.get("server") or "")
    if not server.startswith(("https://", "http://")):
        return _fail(f"server {server!r} is not an http(s) URL")
    tmp = tempfile.mkdtemp(prefix="kctx-probe-")  # 0700; client keys given as data live here briefly
    try:
        try:
            ctx = _ssl_context(cluster, user, tmp, warn, name)
        except (OSError, ssl.SSLError, ValueError) as e:
            return _fail(f"TLS settings of the entry: {_short(e)}")
        headers = {"Accept": "application/json", "User-Agent": "kctx"}
        token = user.get("token")
        if not token and user.get("tokenFile"):
            try:
                with open(str(user["tokenFile"]), encoding="utf-8") as f:
                    token = f.read().strip()
            except OSError as e:
                return _fail(f"cannot read tokenFile: {e.strerror}")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        auth = None
        if user.get("username") and user.get("password") is not None:
            auth = (str(user["username"]), str(user["password"]))
        extensions = {}
        if cluster.get("tls-server-name"):
            extensions["sni_hostname"] = str(cluster["tls-server-name"])
        try:
            with httpx.Client(verify=ctx, proxy=cluster.get("proxy-url") or None,
                              timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
                r = client.get(server.rstrip("/") + "/version", headers=headers, auth=auth,
                               extensions=extensions)
        except httpx.TimeoutException:
            return _fail(f"no answer from {server} within {timeout:g} s", unreachable=True)
        except (httpx.HTTPError, OSError, ssl.SSLError, ValueError) as e:
            return _fail(f"cannot reach {server}: {_short(e)}", unreachable=True)
        if r.status_code in (401, 403):
            if _needs_plugin(user):
                return {"ok": False, "error": f"HTTP {r.status_code}", "plugin": True, "checked": time.time()}
            return _fail(f"{server}/version answered HTTP {r.status_code}: it needs credentials the entry does not hold")
        if r.status_code != 200:
            return _fail(f"{server}/version answered HTTP {r.status_code}")
        try:
            return _ok(r.json(), "https")
        except ValueError as e:
            return _fail(f"{server}/version: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def probe_kubectl(path: str, name: str, timeout: float) -> dict[str, Any]:
    """Ask a real kubectl (`version -o json`), which runs the entry's credential plugin."""
    import json
    import subprocess

    from kctx.kubectl.installed import real_kubectl

    kubectl = real_kubectl()
    if kubectl is None:
        return _fail("the server needs a credential plugin and no kubectl is installed to run it")
    ms = max(int(timeout * 1000), 1)
    # KCTX_IN_K: a plugin that itself runs `kubectl` must never re-enter kctx's guard.
    env = dict(os.environ, KUBECONFIG=path, KCTX_IN_K="1", KCTX_KUBECTL=kubectl)
    argv = [kubectl, "version", "-o", "json", f"--request-timeout={ms}ms", "--context", name]
    try:
        r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout + EXEC_GRACE, check=False)
    except subprocess.TimeoutExpired:
        return _fail(f"kubectl version did not finish within {timeout + EXEC_GRACE:g} s (credential plugin?)")
    except OSError as e:
        return _fail(f"cannot run {kubectl}: {e.strerror}")
    try:
        info = json.loads(r.stdout or b"{}").get("serverVersion")
    except (ValueError, AttributeError):
        info = None
    if not isinstance(info, dict):
        err = r.stderr.decode("utf-8", "replace").strip().splitlines()
        text = err[-1] if err else f"exit code {r.returncode}"
        unreachable = any(w in text for w in ("connection refused", "timeout", "no such host", "i/o timeout"))
        return _fail("kubectl version: " + text, unreachable=unreachable)
    try:
        return _ok(info, "kubectl")
    except ValueError as e:
        return _fail(str(e))


def probe(name: str, path: str | None = None, timeout: float | None = None, warn: Any = None) -> dict[str, Any]:
    """Learn entry `name`'s server version now, store it in the cache, return the cache record."""
    from kctx import config

    path = path or paths.entry_file(name)
    if timeout is None:
        timeout = float(config.load()["kubectl"]["probe_timeout"])
    try:
        cluster, _ = _entry_parts(path, name)
        server = str(cluster.get("server") or "")
    except Exception as e:  # noqa: BLE001
        return {"error": str(e), "failed": time.time()}
    result = probe_https(path, name, timeout, warn)
    if not result.get("ok") and result.get("plugin"):
        result = probe_kubectl(path, name, timeout)
    try:
        return save(server, result)
    except OSError:
        return {k: v for k, v in result.items() if k != "ok"}


def _stderr(message: str) -> None:
    sys.stderr.write(f"kctx: {message}\n")


def spawn_refresh(name: str) -> bool:
    """Refresh entry `name`'s server version in a detached process; never waits for it."""
    from kctx.kubectl import spawn

    return spawn.start(spawn.probe_marker(name), ["probe", name])
