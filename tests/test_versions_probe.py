"""Learning server versions: GET /version with each entry's TLS settings, the exec-plugin path,
the per-server cache, unreachable servers, background refresh after `kctx use`."""
from __future__ import annotations

import json
import marshal
import os
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPIServer, exec_user, write_plugin
from mirror import HangingSocket, refused_url

from kctx import paths
from kctx.kubectl import choice, installed, probe
from kctx.store import Store

DISTROS = {
    "gke": ("v1.30.1-gke.1329003", "1.30.1"),
    "eks": ("v1.29.6-eks-1de2ab1", "1.29.6"),
    "k3s": ("v1.28.5+k3s1", "1.28.5"),
    "rc": ("v1.31.0-rc.1", "1.31.0-rc.1"),
}


@pytest.fixture
def entries(kubeconfig: Callable[..., Path]) -> Callable[..., Store]:
    """Import contexts (fakeapi.write_kubeconfig specs) into the sandbox's store."""

    def make(contexts: list[dict[str, Any]]) -> Store:
        path = kubeconfig(contexts, name=f"config-{time.monotonic_ns()}")
        store = Store()
        store.import_files([str(path)], force=True)
        return store

    return make


def version_requests(api: FakeAPIServer) -> list[Any]:
    return [r for r in api.requests if r.path == "/version"]


@pytest.fixture
def hanging_server() -> Iterator[str]:
    """https URL of a port that accepts connections and never answers."""
    with HangingSocket() as hanging:
        yield hanging.url


def test_every_distro_form_is_matched(fake_api: Callable[..., FakeAPIServer], entries: Callable[..., Store]) -> None:
    servers = {name: fake_api(git, name=name) for name, (git, _) in DISTROS.items()}
    entries([{"name": n, "server": s} for n, s in servers.items()])
    for name, (git, release) in DISTROS.items():
        rec = probe.probe(name)
        assert rec["git_version"] == git
        assert rec["kubectl"] == release
        assert rec["via"] == "https"
        assert not rec["error"]
    cache = probe.load_cache()
    assert {servers[n].url for n in DISTROS} <= set(cache)
    # JSON for people, a marshal file per server for the hot paths; all private, all the same.
    with open(paths.server_versions_file(), encoding="utf-8") as f:
        doc = json.load(f)
    hot = [paths.server_versions_file()]
    for url, rec in doc["servers"].items():
        path = paths.server_version_hot_file(probe.hot_key(url))
        with open(path, "rb") as f:
            assert marshal.load(f) == (probe.CACHE_VERSION, rec)
        assert probe.cached_fast(url) == rec
        hot.append(path)
    for p in hot:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600


@pytest.mark.parametrize("url", [
    "https://10.0.0.1:6443", "https://a.example/k8s/clusters/c-x_y", "https://[::1]:6443/",
    "https://rancher.example/k8s/clusters/" + "c" * 400, "https://ünï.example/../..", "https://x/%2e%2e/",
])
def test_hot_key_is_a_safe_file_name(url: str) -> None:
    key = probe.hot_key(url)
    assert "/" not in key and key not in (".", "..") and 0 < len(key) <= 160
    assert key != probe.hot_key(url + "x")


def test_hot_key_is_injective_for_similar_urls() -> None:
    urls = ["https://a:1", "https://a_3a1", "https://a:1/", "https://A:1", "https://a:1" + "x" * 300,
            "https://a:1" + "x" * 299 + "y"]
    assert len({probe.hot_key(u) for u in urls}) == len(urls)


def test_eks_minor_with_plus_and_emulation(fake_api: Callable[..., FakeAPIServer], entries: Callable[..., Store]) -> None:
    eks = fake_api("v1.29.6-eks-1de2ab1", name="eks", minor="21+")  # a lying `minor` is ignored
    emu = fake_api("v1.33.1", name="emu", emulation=("1", "32"))
    entries([{"name": "eks", "server": eks}, {"name": "emu", "server": emu}])
    assert probe.probe("eks")["kubectl"] == "1.29.6"
    rec = probe.probe("emu")
    assert rec["kubectl"] == "1.32" and (rec["major"], rec["minor"]) == (1, 32)


def test_cache_is_per_server_not_per_entry(fake_api: Callable[..., FakeAPIServer], entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", name="shared")
    store = entries([{"name": "a", "server": api, "cluster": "c", "user": "u"},
                     {"name": "b", "server": api, "cluster": "c", "user": "u", "namespace": "x"}])
    probe.probe("a")
    assert len(version_requests(api)) == 1
    c = choice.choose("b", {"server": store.get("b").server}, download=False)
    assert c.wanted == "1.30.4" and c.source == "server"
    assert len(version_requests(api)) == 1  # b used a's answer


@pytest.mark.parametrize("spec", [
    {"token": None, "client_cert": "data"},
    {"token": None, "client_cert": "file"},
    {"token_file": True},
    {"ca": "file"},
    {"ca": "relative"},
])
def test_tls_settings_and_static_credentials(spec: dict[str, Any], fake_api: Callable[..., FakeAPIServer],
                                             entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", require_auth=True, name="locked",
                   client_certs=bool(spec.get("client_cert")))
    entries([{"name": "locked", "server": api, **spec}])
    rec = probe.probe("locked")
    assert rec.get("kubectl") == "1.30.4", rec
    reqs = version_requests(api)
    assert reqs and reqs[-1].headers.get("user-agent") == "kctx"


def test_insecure_skip_tls_verify_warns(fake_api: Callable[..., FakeAPIServer], entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", name="lax")
    entries([{"name": "lax", "server": api, "ca": "insecure"}])
    said: list[str] = []
    rec = probe.probe("lax", warn=said.append)
    assert rec["kubectl"] == "1.30.4"
    assert any("insecure-skip-tls-verify" in s for s in said)


def test_untrusted_server_certificate_fails(fake_api: Callable[..., FakeAPIServer], entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", name="nocert")
    entries([{"name": "nocert", "server": api, "ca": "none"}])  # system trust: the test CA is not in it
    rec = probe.probe("nocert")
    assert not rec.get("kubectl")
    assert "CERTIFICATE_VERIFY_FAILED" in rec["error"] or "certificate" in rec["error"].lower()


def test_401_without_a_plugin_is_reported(fake_api: Callable[..., FakeAPIServer], entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", require_auth=True, name="locked")
    entries([{"name": "locked", "server": api, "token": "wrong"}])
    rec = probe.probe("locked")
    assert "401" in rec["error"] and not rec.get("unreachable")


def test_exec_plugin_path_asks_kubectl(tmp_path: Path, fake_api: Callable[..., FakeAPIServer],
                                       entries: Callable[..., Store]) -> None:
    api = fake_api("v1.29.6-eks-1de2ab1", require_auth=True, name="eks")
    plugin = write_plugin(tmp_path, api.token)
    entries([{"name": "eks", "server": api, "user_config": exec_user(str(plugin))}])
    rec = probe.probe("eks")
    assert rec["kubectl"] == "1.29.6", rec
    assert rec["via"] == "kubectl"
    tokens = [r.token for r in version_requests(api)]
    assert None in tokens  # first the plain request (refused: 401)...
    assert api.token in tokens  # ...then kubectl with the plugin's token
    assert (tmp_path / "plugin-runs").read_text().count("run") >= 1


def test_exec_plugin_that_hangs_is_bounded(tmp_path: Path, fake_api: Callable[..., FakeAPIServer],
                                           entries: Callable[..., Store], monkeypatch: pytest.MonkeyPatch) -> None:
    api = fake_api("v1.30.4", require_auth=True, name="slow")
    script = tmp_path / "sleepy"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    entries([{"name": "slow", "server": api, "user_config": exec_user(str(script))}])
    monkeypatch.setattr(probe, "EXEC_GRACE", 1.0)
    t = time.monotonic()
    rec = probe.probe("slow", timeout=1.0)
    assert time.monotonic() - t < 8
    assert rec.get("error") and not rec.get("kubectl")


def test_probe_never_runs_a_kctx_wrapper_named_kubectl(tmp_path: Path, fake_api: Callable[..., FakeAPIServer],
                                                      entries: Callable[..., Store], kubectl_bin: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A `kubectl` earlier on PATH that is kctx (a shim or `k` itself) is skipped."""
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    shim = shim_dir / "kubectl"
    shim.write_text(f"#!/bin/sh\necho shim >> '{tmp_path}/shim-runs'\nexec kctx-guard \"$@\"  # kctx wrapper\n")
    shim.chmod(0o755)
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    (real_dir / "kubectl").symlink_to(kubectl_bin)
    k_dir = tmp_path / "kdir"
    k_dir.mkdir()
    (k_dir / "kubectl").symlink_to(Path(sys.executable).parent / "k")
    monkeypatch.setenv("PATH", os.pathsep.join([str(k_dir), str(shim_dir), str(real_dir), "/bin", "/usr/bin"]))
    assert installed.path_kubectl() == str(real_dir / "kubectl")

    api = fake_api("v1.30.4", require_auth=True, name="p")
    plugin = write_plugin(tmp_path, api.token)
    entries([{"name": "p", "server": api, "user_config": exec_user(str(plugin))}])
    assert probe.probe("p")["kubectl"] == "1.30.4"
    assert not (tmp_path / "shim-runs").exists()


def test_credential_plugin_calling_kubectl_does_not_recurse(
        tmp_path: Path, fake_api: Callable[..., FakeAPIServer], entries: Callable[..., Store],
        kubectl_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """kuberlr#37: the plugin's command is `kubectl` (a kubectl plugin gives the token).

    With kctx's `k` standing in as the first `kubectl` on PATH, the probe and the plugin's
    nested kubectl must end after a bounded number of processes.
    """
    api = fake_api("v1.30.4", require_auth=True, name="rec")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    k_script = Path(sys.executable).parent / "k"
    if k_script.exists():
        (bin_dir / "kubectl").symlink_to(k_script)
    else:
        (bin_dir / "kubectl").symlink_to(kubectl_bin)
    # `kubectl credtoken` runs the kubectl plugin `kubectl-credtoken` from PATH.
    write_plugin(bin_dir, api.token, name="kubectl-credtoken")
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    (real_dir / "kubectl").symlink_to(kubectl_bin)
    # The venv next: run through a symlink, the `k` console script names its own Python.
    venv = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), str(real_dir), venv, "/usr/bin", "/bin"]))
    entries([{"name": "rec", "server": api, "user_config": exec_user("kubectl", ["credtoken"])}])
    t = time.monotonic()
    rec = probe.probe("rec", timeout=3.0)
    assert time.monotonic() - t < 20
    assert rec.get("kubectl") == "1.30.4", rec
    runs = (bin_dir / "plugin-runs").read_text().count("run")
    assert 1 <= runs <= 3


def test_unreachable_server_is_bounded_and_recorded(entries: Callable[..., Store]) -> None:
    url = refused_url()
    entries([{"name": "gone", "server": url}])
    t = time.monotonic()
    rec = probe.probe("gone", timeout=1.0)
    assert time.monotonic() - t < 3
    assert rec["unreachable"] and "cannot reach" in rec["error"]
    assert not rec.get("kubectl")


def test_hanging_server_times_out(hanging_server: str, entries: Callable[..., Store]) -> None:
    entries([{"name": "hang", "server": hanging_server}])
    t = time.monotonic()
    rec = probe.probe("hang", timeout=1.0)
    assert time.monotonic() - t < 4
    assert rec["unreachable"]


def test_failure_keeps_the_last_known_version(fake_api: Callable[..., FakeAPIServer],
                                              entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", name="flaky")
    entries([{"name": "flaky", "server": api}])
    assert probe.probe("flaky")["kubectl"] == "1.30.4"
    api.stop()
    rec = probe.probe("flaky", timeout=1.0)
    assert rec["kubectl"] == "1.30.4" and rec["unreachable"] and rec["failed"] >= rec["checked"]
    assert probe.may_probe(rec, 86400) is False  # no new attempt on every `k`


def test_cache_survives_garbage(entries: Callable[..., Store], fake_api: Callable[..., FakeAPIServer]) -> None:
    api = fake_api("v1.30.4", name="x")
    hot = paths.server_version_hot_file(probe.hot_key(api.url))
    os.makedirs(os.path.dirname(hot), exist_ok=True)
    for p in (paths.server_versions_file(), hot):
        with open(p, "wb") as f:
            f.write(b"\x00garbage{")
    assert probe.load_cache() == {} and probe.cached_fast(api.url) is None
    entries([{"name": "x", "server": api}])
    assert probe.probe("x")["kubectl"] == "1.30.4"
    assert probe.load_cache()[api.url]["kubectl"] == "1.30.4"


def wait_for(cond: Callable[[], Any], timeout: float = 40.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    return cond()


def test_on_use_refreshes_in_the_background(fake_api: Callable[..., FakeAPIServer],
                                            entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", name="bg", delay=1.0)  # a slow server: on_use must not wait for it
    store = entries([{"name": "bg", "server": api}])
    record = {"server": store.get("bg").server}
    t = time.monotonic()
    choice.on_use("bg", record)
    assert time.monotonic() - t < 0.5
    rec = wait_for(lambda: probe.load_cache().get(api.url))
    assert rec and rec["kubectl"] == "1.30.4"
    assert wait_for(lambda: not os.path.exists(paths.probe_marker("bg")))
    # Fresh now: another `use` starts nothing and asks nothing.
    api.clear()
    choice.on_use("bg", record)
    time.sleep(1.5)
    assert version_requests(api) == []


def test_on_use_with_a_stale_cache_refreshes(fake_api: Callable[..., FakeAPIServer],
                                             entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", name="st")
    store = entries([{"name": "st", "server": api}])
    probe.probe("st")
    # Age the record past the TTL, as if probed two days ago; the server was upgraded since.
    rec = dict(probe.load_cache()[api.url], checked=time.time() - 2 * 86400)
    probe.save(api.url, {**rec, "ok": True})
    api.version = "v1.31.2"
    choice.on_use("st", {"server": store.get("st").server})
    assert wait_for(lambda: probe.load_cache()[api.url]["kubectl"] == "1.31.2")


def test_on_use_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(probe, "cached_fast", boom)
    choice.on_use("x", {"server": "https://127.0.0.1:1"})
    choice.on_use("x", None)


def test_one_background_probe_at_a_time(fake_api: Callable[..., FakeAPIServer], entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", name="once", delay=1.0)
    store = entries([{"name": "once", "server": api}])
    record = {"server": store.get("once").server}
    assert probe.spawn_refresh("once") is True
    assert probe.spawn_refresh("once") is False  # the marker says one runs
    choice.on_use("once", record)
    assert wait_for(lambda: probe.load_cache().get(api.url))
    wait_for(lambda: not os.path.exists(paths.probe_marker("once")))
    assert len(version_requests(api)) == 1


@pytest.fixture
def connect_proxy() -> Iterator[dict[str, Any]]:
    """A tiny HTTP CONNECT proxy on 127.0.0.1 that records the targets it tunnelled to."""
    seen: list[str] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle(client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        method, target = head.split(b" ")[:2]
        if method != b"CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        host, port = target.decode().rsplit(":", 1)
        seen.append(target.decode())
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(client,), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield {"url": f"http://127.0.0.1:{srv.getsockname()[1]}", "seen": seen}
    stop.set()
    t.join()
    srv.close()


def test_proxy_url_is_used(connect_proxy: dict[str, Any], fake_api: Callable[..., FakeAPIServer],
                           entries: Callable[..., Store]) -> None:
    api = fake_api("v1.30.4", name="behind")
    entries([{"name": "behind", "server": api, "extensions": {"proxy-url": connect_proxy["url"]}}])
    rec = probe.probe("behind")
    assert rec["kubectl"] == "1.30.4", rec
    assert connect_proxy["seen"] == [f"127.0.0.1:{api.port}"]
