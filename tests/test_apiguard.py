"""The API guard: in a shell on a protected entry every client of its KUBECONFIG reaches the
cluster through kctx's guard, which forwards reads and refuses writes (issue 7).

Real parts: the real kubectl, the official Python client, recording fake API servers over
TLS, the guard process and its real `kubectl proxy`; a plain process stands in for the shell.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from apiguard_support import Shell, guard_pids, wait_for
from fakeapi import exec_user, write_plugin
from guard_support import setup_guarded, writes

from kctx import paths
from kctx.apiguard import rules
from kctx.apiguard import state as gstate


# -- the rules, one request at a time ---------------------------------------------------------
@pytest.mark.parametrize(("method", "target", "kind", "namespace"), [
    ("GET", "/api/v1/namespaces/web/pods", rules.READ, "web"),
    ("HEAD", "/api/v1/namespaces/web/pods/x", rules.READ, "web"),
    ("OPTIONS", "/apis", rules.READ, None),
    ("GET", "/api/v1/namespaces/web/pods/x/log?follow=true", rules.READ, "web"),
    ("GET", "/api/v1/namespaces/web/pods/exec", rules.READ, "web"),  # a pod named exec
    ("GET", "/api/v1/namespaces/web/pods/x/exec?command=sh", rules.STREAM, "web"),
    ("POST", "/api/v1/namespaces/web/pods/x/exec", rules.STREAM, "web"),
    ("POST", "/api/v1/namespaces/web/pods/x/attach", rules.STREAM, "web"),
    ("POST", "/api/v1/namespaces/web/pods/x/portforward", rules.STREAM, "web"),
    ("GET", "/api/v1/namespaces/web/services/s:80/proxy/admin/delete", rules.STREAM, "web"),
    ("GET", "/api/v1/nodes/n1/proxy/configz", rules.STREAM, None),
    ("GET", "/api/v1/proxy/namespaces/web/pods/x", rules.STREAM, None),
    ("GET", "/api/v1/namespaces/web/pods/x/%65xec", rules.STREAM, "web"),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", rules.REVIEW, None),
    ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", rules.REVIEW, None),
    ("POST", "/apis/authorization.k8s.io/v1/namespaces/web/localsubjectaccessreviews", rules.REVIEW, "web"),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", rules.REVIEW, None),
    ("POST", "/apis/authentication.k8s.io/v1/tokenreviews", rules.REVIEW, None),
    ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", rules.REVIEW, None),
    # reviews anywhere else, or in the wrong group, are writes
    ("POST", "/apis/evil.example.com/v1/selfsubjectaccessreviews", rules.WRITE, None),
    ("POST", "/apis/authorization.k8s.io/v1/namespaces/web/selfsubjectaccessreviews", rules.WRITE, "web"),
    ("POST", "/apis/authentication.k8s.io/v1/tokenreviews/x", rules.WRITE, None),
    ("PUT", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", rules.WRITE, None),
    ("POST", "/api/v1/namespaces/web/serviceaccounts/default/token", rules.WRITE, "web"),
    ("POST", "/api/v1/namespaces/web/pods/x/eviction", rules.WRITE, "web"),
    ("DELETE", "/api/v1/namespaces/web/pods/x", rules.WRITE, "web"),
    ("DELETE", "/api/v1/namespaces/prod-a", rules.WRITE, "prod-a"),
    ("POST", "/api/v1/namespaces", rules.WRITE, None),
    ("PATCH", "/apis/apps/v1/namespaces/web/deployments/d", rules.WRITE, "web"),
    ("PUT", "/api/v1/nodes/n1", rules.WRITE, None),
    ("delete", "/api/v1/namespaces/web/pods/x", rules.WRITE, "web"),
    ("PROPFIND", "/api/v1/namespaces/web/pods", rules.WRITE, "web"),
    # server-side dry runs pass; what Go would not read as dryRun=All does not
    ("POST", "/api/v1/namespaces/web/pods?dryRun=All", rules.DRY_RUN, "web"),
    ("DELETE", "/api/v1/namespaces/web/pods/x?dryRun=Al%6c&gracePeriodSeconds=0", rules.DRY_RUN, "web"),
    ("PATCH", "/api/v1/namespaces/web/pods/x?dryRun=All&dryRun=", rules.WRITE, "web"),
    ("PATCH", "/api/v1/namespaces/web/pods/x?dryRun=All;x=1", rules.WRITE, "web"),
    ("PATCH", "/api/v1/namespaces/web/pods/x?dryrun=All", rules.WRITE, "web"),
    ("POST", "/api/v1/namespaces/web/pods/x/exec?dryRun=All", rules.STREAM, "web"),
    # paths kctx will not guess about
    ("DELETE", "/api/v1/namespaces/web/pods/../../../nodes/n1", rules.ODD, "web"),
    ("DELETE", "/api/v1/namespaces/web//pods/x", rules.ODD, "web"),
    ("DELETE", "/api/v1/namespaces/web/pods/%zz", rules.ODD, None),
    ("DELETE", "relative", rules.ODD, None),
    # %2F is a slash to the API server
    ("POST", "/apis/authorization.k8s.io/v1%2Fselfsubjectaccessreviews", rules.REVIEW, None),
    ("DELETE", "http://127.0.0.1/api/v1/namespaces/web/pods/x", rules.WRITE, "web"),
])
def test_classify(method, target, kind, namespace):
    req = rules.classify(method, target)
    assert (req.kind, req.namespace) == (kind, namespace)


def test_every_upgrade_is_a_stream():
    assert rules.classify("GET", "/api/v1/namespaces/web/pods", upgrade=True).kind == rules.STREAM
    assert not rules.classify("GET", "/api/v1/namespaces/web/pods", upgrade=True).passes


def test_namespace_rules_per_request():
    p = rules.Policy("shared", "none", "https://x", None, [{"namespace": "prod-*", "tier": "prod"}])
    assert p.protects("prod-a") and p.protects(None) and not p.protects("dev-x")
    assert rules.Policy("prod", "prod", "https://x", "tier prod", []).protects("anything")


# -- a shell on a protected entry --------------------------------------------------------------
@pytest.fixture
def guarded(tmp_path, fake_api, kubectl_bin):
    return setup_guarded(tmp_path, fake_api, kubectl_bin)


@pytest.fixture
def shell(guarded, kubectl_bin):
    sh = Shell(kubectl_bin)
    yield sh
    sh.exit()


def use(sh: Shell, name: str, *args: str) -> None:
    r = sh.kctx("use", name, *args)
    assert r.returncode == 0, r.stderr


def test_a_protected_shell_has_only_the_guard(guarded, shell, kubectl_bin):
    use(shell, "prod")
    assert shell.kubeconfig == shell.session  # the session alone: no path around the guard
    doc = json.loads(Path(shell.session).read_text())
    assert doc["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    assert list(doc["users"][0]["user"]) == ["tokenFile"]
    text = Path(shell.session).read_text()
    assert guarded.servers["prod"].token not in text and guarded.servers["prod"].url not in text
    for suffix in (".token", ".guard", ".direct"):
        assert oct(os.stat(shell.session + suffix).st_mode & 0o777) == "0o600"
    assert oct(os.stat(gstate.guard_dir()).st_mode & 0o777) == "0o700"


def test_reads_pass_and_writes_are_refused(guarded, shell, kubectl_bin):
    use(shell, "prod")
    api = guarded.servers["prod"]
    r = shell.run(kubectl_bin, "get", "pods")
    assert r.returncode == 0, r.stderr
    assert "/api/v1/namespaces/payments/pods" in api.paths("GET")
    r = shell.run(kubectl_bin, "delete", "pod", "web-2")
    assert r.returncode != 0
    assert "Error from server (Forbidden): kctx: prod is protected" in r.stderr
    assert "`k`" in r.stderr and "kctx unlock" in r.stderr
    assert writes(api) == []
    for argv in (["logs", "-f", "web-1"], ["get", "pods", "-w", "--request-timeout=5s"],
                 ["delete", "pod", "web-2", "--dry-run=server"], ["auth", "can-i", "delete", "pods"],
                 ["auth", "whoami"], ["apply", "--dry-run=server", "-f", "-"]):
        manifest = ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}'
                    if argv[-1] == "-" else None)
        r = shell.run(kubectl_bin, *argv, input=manifest)
        assert r.returncode == 0, (argv, r.stderr)
    for argv in (["scale", "deploy/web", "--replicas=0"], ["label", "pod", "web-1", "a=b"],
                 ["create", "namespace", "x"], ["exec", "web-1", "--", "true"],
                 ["apply", "-f", "-"]):
        manifest = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}'
        r = shell.run(kubectl_bin, *argv, input=manifest if argv[-1] == "-" else None)
        assert r.returncode != 0, argv
        assert "kctx: prod is protected" in r.stderr, (argv, r.stderr)
    assert writes(api) == [] and api.streams() == []
    records = [r for r in guarded.audit() if r["outcome"] == "api-refused"]
    assert records and all(r["entry"] == "prod" and r["session"] == shell.session for r in records)
    first = next(r for r in records if r["method"] == "DELETE")
    assert first["path"] == "/api/v1/namespaces/payments/pods/web-2" and first["namespace"] == "payments"
    assert first["user_agent"].startswith("kubectl/")
    r = subprocess.run([str(Path(kubectl_bin).parent / "kctx"), "audit"], capture_output=True, text=True,
                       check=False)
    assert "api-refused" in r.stdout and "DELETE /api/v1/namespaces/payments/pods/web-2" in r.stdout


def _raw(sh: Shell, headers: dict[str, str], path: str = "/api/v1/namespaces/payments/pods") -> tuple[int, bytes]:
    import http.client

    doc = json.loads(Path(sh.session).read_text())
    url = doc["clusters"][0]["cluster"]["server"]
    ctx = ssl.create_default_context(cafile=doc["clusters"][0]["cluster"]["certificate-authority"])
    conn = http.client.HTTPSConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), context=ctx, timeout=30)
    conn.request("DELETE", path, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_no_secret_no_answer(guarded, shell):
    use(shell, "prod")
    api = guarded.servers["prod"]
    token = Path(shell.session + ".token").read_text()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {token}x"},
                    {"Authorization": f"Basic {token}"}, {"Authorization": api.token}):
        status, body = _raw(shell, headers)
        assert status == 401, headers
        assert json.loads(body)["kind"] == "Status"
    assert api.requests == []
    status, _ = _raw(shell, {"Authorization": f"Bearer {token}"})
    assert status == 403
    assert api.requests == []


def test_unlock_lets_every_client_write_and_lock_stops_it(guarded, shell, kubectl_bin):
    use(shell, "prod")
    api = guarded.servers["prod"]
    r = shell.kctx("unlock", "5m")
    assert r.returncode == 0, r.stderr
    assert "every client of this shell may write" in r.stderr
    r = shell.run(kubectl_bin, "delete", "pod", "web-2")
    assert r.returncode == 0, r.stderr
    assert writes(api) == ["DELETE /api/v1/namespaces/payments/pods/web-2"]
    assert [r["path"] for r in guarded.audit() if r["outcome"] == "api-unlocked"] == [
        "/api/v1/namespaces/payments/pods/web-2"]
    other = Shell(kubectl_bin)  # another shell on the same entry stays guarded
    try:
        use(other, "prod")
        r = other.run(kubectl_bin, "delete", "pod", "web-3")
        assert r.returncode != 0 and "kctx: prod is protected" in r.stderr
    finally:
        other.exit()
    assert shell.kctx("lock").returncode == 0
    r = shell.run(kubectl_bin, "delete", "pod", "web-4")
    assert r.returncode != 0 and "kctx: prod is protected" in r.stderr
    assert writes(api) == ["DELETE /api/v1/namespaces/payments/pods/web-2"]


def test_a_confirmed_k_write_arrives_exactly_once(guarded, shell, kubectl_bin):
    use(shell, "prod")
    api = guarded.servers["prod"]
    r = shell.k("delete", "pod", "web-1")
    assert r.returncode == 4, r.stderr  # no terminal, no KCTX_CONFIRM: refused by k itself
    r = shell.k("delete", "pod", "web-1", KCTX_CONFIRM="prod")
    assert r.returncode == 0, r.stderr
    assert writes(api) == ["DELETE /api/v1/namespaces/payments/pods/web-1"]
    r = shell.k("get", "pods")
    assert r.returncode == 0, r.stderr
    # k's edits of the kubeconfig still go to this shell's session file
    r = shell.k("config", "set-context", "--current", "--namespace=moved")
    assert r.returncode == 0, r.stderr
    assert "moved" in Path(shell.session).read_text()
    api.clear()
    r = shell.k("delete", "pod", "web-9", KCTX_CONFIRM="prod")
    assert r.returncode == 0, r.stderr
    assert writes(api) == ["DELETE /api/v1/namespaces/moved/pods/web-9"]
    r = shell.run(kubectl_bin, "get", "pods")
    assert r.returncode == 0 and "/api/v1/namespaces/moved/pods" in api.paths("GET")


def test_the_python_client_is_guarded_too(guarded, shell):
    use(shell, "prod")
    api = guarded.servers["prod"]
    script = (
        "import sys\n"
        "from kubernetes import client, config\n"
        "config.load_kube_config()\n"
        "v1 = client.CoreV1Api()\n"
        "print(len(v1.list_namespaced_pod('payments').items))\n"
        "try:\n"
        "    v1.delete_namespaced_pod('web-2', 'payments')\n"
        "except client.ApiException as e:\n"
        "    print(e.status, e.body)\n"
        "    sys.exit(3)\n")
    r = shell.run(os.sys.executable, "-c", script)
    assert r.returncode == 3, r.stderr
    assert r.stdout.startswith("0\n403 ") and "kctx: prod is protected" in r.stdout
    assert writes(api) == [] and "/api/v1/namespaces/payments/pods" in api.paths("GET")


def test_guard_killed_fails_closed_and_the_next_kctx_restarts_it(guarded, shell, kubectl_bin):
    use(shell, "prod")
    api = guarded.servers["prod"]
    assert shell.run(kubectl_bin, "get", "pods").returncode == 0
    before = gstate.read_state(shell.session)
    os.kill(before["pid"], signal.SIGKILL)
    assert wait_for(lambda: not gstate.alive(before))
    api.clear()
    r = shell.run(kubectl_bin, "delete", "pod", "web-2", "--request-timeout=5s")
    assert r.returncode != 0 and "refused" in r.stderr
    r = shell.run(kubectl_bin, "get", "pods", "--request-timeout=5s")
    assert r.returncode != 0
    assert api.requests == []  # never a path around the guard
    assert wait_for(lambda: not [p for p in guard_pids()])  # its kubectl proxy went with it
    r = shell.kctx("list")  # any kctx command brings it back
    assert r.returncode == 0 and "API guard of this shell was down: restarted" in r.stderr
    after = gstate.read_state(shell.session)
    assert after["pid"] != before["pid"] and after["port"] == before["port"]
    r = shell.run(kubectl_bin, "get", "pods")
    assert r.returncode == 0, r.stderr
    r = shell.run(kubectl_bin, "delete", "pod", "web-2")
    assert r.returncode != 0 and "kctx: prod is protected" in r.stderr
    assert writes(api) == []
    r = shell.kctx("current", "-o", "json")
    assert json.loads(r.stdout)["guard"]["status"] == "active"
    r = shell.kctx("doctor", "--offline", "-o", "json")
    checks = [c for c in json.loads(r.stdout)["checks"] if c["check"] == "API guard"]
    assert checks and checks[0]["level"] == "ok" and "active" in checks[0]["message"]


def test_no_guard_is_left_once_the_shell_is_gone(guarded, kubectl_bin):
    shells = [Shell(kubectl_bin) for _ in range(2)]
    for sh in shells:
        use(sh, "prod")
        assert sh.run(kubectl_bin, "get", "pods").returncode == 0
    assert len(guard_pids()) == 2
    shells[0].exit()
    assert wait_for(lambda: len(guard_pids()) == 1)
    shells[1].proc.kill()  # a shell that dies without its exit trap
    shells[1].proc.wait()
    assert wait_for(lambda: guard_pids() == [])
    assert wait_for(lambda: not _proxies())
    assert not os.path.exists(shells[1].session + ".token")


def _proxies() -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if b"proxy\0--unix-socket=" in cmd and os.path.basename(paths.sessions_dir()).encode():
            try:
                cwd = os.readlink(f"/proc/{name}/cwd")
            except OSError:
                continue
            if cwd == gstate.guard_dir():
                out.append(int(name))
    return out


def test_a_guarded_shell_knows_its_entry(guarded, shell):
    """kctx list marks the entry and kctx kubectl which names its kubectl in a guarded shell too
    (KUBECONFIG there is the session alone, without the entry file)."""
    use(shell, "prod")
    r = shell.kctx("list", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert [e["name"] for e in json.loads(r.stdout) if e["active"]] == ["prod"]
    rows = [line.split() for line in shell.kctx("list").stdout.splitlines()]
    assert ["*", "prod"] == next(row for row in rows if "prod" in row)[:2]
    r = shell.kctx("kubectl", "which")
    assert r.returncode == 0 and "prod" in r.stdout + r.stderr, r.stderr


def test_switching_away_stops_the_guard(guarded, shell, kubectl_bin):
    use(shell, "prod")
    pid = gstate.read_state(shell.session)["pid"]
    use(shell, "prod", "-n", "other")  # same entry: same guard
    assert gstate.read_state(shell.session)["pid"] == pid
    use(shell, "dev")
    assert shell.kubeconfig == f"{shell.session}:{paths.entry_file('dev')}"
    assert wait_for(lambda: guard_pids() == [])
    assert not os.path.exists(shell.session + ".guard")
    r = shell.run(kubectl_bin, "delete", "pod", "x")
    assert r.returncode == 0 and guarded.writes("dev") == ["DELETE /api/v1/namespaces/web/pods/x"]


def test_namespace_rules_decide_per_request(guarded, shell, kubectl_bin):
    use(shell, "shared")  # tier none, but namespaces prod-* are tier prod
    api = guarded.servers["shared"]
    assert shell.kubeconfig == shell.session
    assert shell.run(kubectl_bin, "delete", "pod", "a", "-n", "dev-x").returncode == 0
    r = shell.run(kubectl_bin, "delete", "pod", "b", "-n", "prod-eu")
    assert r.returncode != 0 and "namespace prod-eu of shared is tier prod" in r.stderr
    r = shell.run(kubectl_bin, "delete", "namespace", "prod-eu")
    assert r.returncode != 0
    r = shell.run(kubectl_bin, "cordon", "node1")  # (kubectl cordon exits 0 on errors)
    assert "cluster-scoped" in r.stderr
    assert writes(api) == ["DELETE /api/v1/namespaces/dev-x/pods/a"]


def test_a_running_guard_takes_in_a_changed_team_policy(guarded, shell, kubectl_bin, tmp_path):
    """A team policy that now protects all of `shared` (not only its prod-* namespaces) holds in
    the guard that is already running, before the shell's next prompt takes the entry again."""
    import time

    from kctx.apiguard.server import WATCH_EVERY

    team = tmp_path / "team.yaml"
    team.write_text("rules: []\n")
    r = shell.kctx("use", "shared", env={"KCTX_POLICY": str(team)})
    assert r.returncode == 0, r.stderr
    api = guarded.servers["shared"]
    assert shell.run(kubectl_bin, "delete", "pod", "a", "-n", "dev-x").returncode == 0
    old = team.stat().st_mtime_ns
    team.write_text("rules:\n  - tier: prod\n    match: {entry: shared}\n")
    os.utime(team, ns=(old, max(team.stat().st_mtime_ns, old + 1_000_000)))
    time.sleep(WATCH_EVERY * 2.5)
    r = shell.run(kubectl_bin, "delete", "pod", "b", "-n", "dev-x")
    assert r.returncode != 0 and "kctx: shared is protected" in r.stderr, r.stderr
    assert writes(api) == ["DELETE /api/v1/namespaces/dev-x/pods/a"]


def test_unprotected_entries_get_no_guard(guarded, shell):
    use(shell, "dev")
    assert shell.kubeconfig == f"{shell.session}:{paths.entry_file('dev')}"
    assert guard_pids() == [] and not os.path.exists(shell.session + ".guard")


def test_guard_api_false_turns_it_off(guarded, shell):
    cfg = Path(paths.config_file())
    cfg.write_text(cfg.read_text() + "  api: false\n")
    use(shell, "prod")
    assert shell.kubeconfig == f"{shell.session}:{paths.entry_file('prod')}"
    assert guard_pids() == []


def test_kctx_exec_on_a_protected_entry_goes_through_a_guard(guarded, shell, kubectl_bin):
    use(shell, "dev")
    kctx = str(Path(kubectl_bin).parent / "kctx")
    r = subprocess.run([kctx, "exec", "prod", "--", "sh", "-c",
                        f'{kubectl_bin} get pods >/dev/null && {kubectl_bin} delete pod web-1; echo "rc=$?"'],
                       capture_output=True, text=True, env=shell.env(KCTX_KUBECTL=kubectl_bin), check=False)
    assert "rc=1" in r.stdout and "kctx: prod is protected" in r.stderr
    assert guarded.writes("prod") == [] and "/api/v1/namespaces/payments/pods" in guarded.servers["prod"].paths()
    assert wait_for(lambda: guard_pids() == [])


# -- credentials: kubectl proxy authenticates as kubectl does ------------------------------------
@pytest.mark.parametrize("kind", ["client-cert-data", "client-cert-file", "token-file", "exec-plugin"])
def test_every_kind_of_user_through_the_guard(tmp_path, fake_api, kubeconfig, kubectl_bin, run_kctx, kind):
    api = fake_api(require_auth=True, client_certs=kind.startswith("client"), name="secure")
    spec = {"name": "secure-prod", "server": api}
    if kind == "client-cert-data":
        spec["client_cert"] = "data"
    elif kind == "client-cert-file":
        spec["client_cert"] = "file"
    elif kind == "token-file":
        spec["token_file"] = True
    else:
        plugin = write_plugin(tmp_path, api.token)
        spec["user_config"] = exec_user(str(plugin))
    src = kubeconfig([spec])
    run_kctx("import", str(src), check=True)
    sh = Shell(kubectl_bin)
    try:
        use(sh, "secure-prod")
        r = sh.run(kubectl_bin, "get", "pods")
        assert r.returncode == 0, r.stderr
        gets = [q for q in api.requests if q.path.endswith("/pods")]
        assert gets and (gets[0].client_cn if kind.startswith("client") else gets[0].token == api.token)
        r = sh.run(kubectl_bin, "delete", "pod", "x")
        assert r.returncode != 0 and "kctx: secure-prod is protected" in r.stderr
        assert writes(api) == []
    finally:
        sh.exit()


def test_many_clients_at_once(guarded, shell, kubectl_bin):
    use(shell, "prod")
    procs = [subprocess.Popen([kubectl_bin, "get", "--raw", "/api/v1/namespaces/payments/pods"],
                              env=shell.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(50)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in results if e][:3]
    assert all(json.loads(out)["kind"] == "PodList" for out, _ in results)


def test_kubectl_use_does_not_wait_for_the_guard(guarded, shell):
    t0 = time.monotonic()
    use(shell, "prod")
    took = time.monotonic() - t0
    state = gstate.read_state(shell.session)
    assert state and state["entry"] == "prod"
    assert took < 5  # the guard and its kubectl proxy start after `use` returned (bench/apiguard.py times it)


def test_a_delete_body_decides_its_dry_run():
    assert rules.body_dry_run(b'{"kind":"DeleteOptions","dryRun":["All"]}', "application/json")
    assert not rules.body_dry_run(b'{"kind":"DeleteOptions"}', "application/json")
    assert not rules.body_dry_run(b'{"dryRun":["All",""]}', "application/json")
    assert not rules.body_dry_run(b'k8s\x00...', "application/vnd.kubernetes.protobuf")
    q = "/api/v1/namespaces/web/pods/x?dryRun=All"
    assert rules.classify("DELETE", q, body_dry=False).kind == rules.WRITE  # the body wins
    assert rules.classify("DELETE", "/api/v1/namespaces/web/pods/x", body_dry=True).kind == rules.DRY_RUN


# -- the guard's relay, on real sockets ---------------------------------------------------------
def _tls_pair(tmp_path: Path) -> tuple[ssl.SSLSocket, ssl.SSLSocket]:
    """A connected TLS client and server over loopback TCP, with the guard's kind of certificate."""
    import socket
    import threading

    from kctx.apiguard import tls

    ca, cert, key = (str(tmp_path / n) for n in ("ca.pem", "server.pem", "server.key"))
    tls._make(ca, cert, key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[ssl.SSLSocket] = []
    t = threading.Thread(target=lambda: accepted.append(server_ctx.wrap_socket(listener.accept()[0],
                                                                               server_side=True)))
    t.start()
    client = ssl.create_default_context(cafile=ca).wrap_socket(
        socket.create_connection(listener.getsockname()), server_hostname="127.0.0.1")
    t.join(10)
    listener.close()
    return client, accepted[0]


def test_an_upgraded_connection_flows_both_ways(tmp_path):
    import socket
    import threading

    from kctx.apiguard import server

    client, guard_side = _tls_pair(tmp_path)
    up_guard, up_proxy = socket.socketpair()
    relay = threading.Thread(target=server._both_ways, args=(guard_side, up_guard, b"early:"))
    relay.start()
    client.sendall(b"stdin")
    got = b""
    while len(got) < len(b"early:stdin"):
        got += up_proxy.recv(100)
    assert got == b"early:stdin"
    big = os.urandom(3 * 1024 * 1024)  # more than a chunk each way: the relay waits for room
    sender = threading.Thread(target=client.sendall, args=(big,))
    sender.start()
    received = b""
    while len(received) < len(big):
        received += up_proxy.recv(1 << 20)
    sender.join(10)
    assert received == big
    sender = threading.Thread(target=up_proxy.sendall, args=(big,))
    sender.start()
    received = b""
    while len(received) < len(big):
        received += client.recv(1 << 20)
    sender.join(10)
    assert received == big
    up_proxy.sendall(big[:1000])
    up_proxy.close()  # the server side ends: what it sent still reaches the client
    relay.join(10)
    assert not relay.is_alive()
    guard_side.close()  # as Guard.handle does once the relay returns
    rest = b""
    while data := client.recv(1 << 16):
        rest += data
    assert rest == big[:1000]


def test_a_chunked_body_is_forwarded_exactly_and_nothing_after_it():
    import socket

    from kctx.apiguard import server

    client, guard_side = socket.socketpair()
    up_guard, up_proxy = socket.socketpair()
    body = b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"
    smuggled = b"DELETE /api/v1/namespaces/payments/pods/web-1 HTTP/1.1\r\n\r\n"
    client.sendall(body[10:] + smuggled)
    server._Body(guard_side, body[:10]).send(up_guard, True, 0)
    up_guard.close()
    forwarded = b""
    while data := up_proxy.recv(1 << 16):
        forwarded += data
    assert forwarded == body
    client.sendall(b"5\r\nhellozz\r\n")  # a chunk whose end is not CRLF: nothing more goes
    sink, drain = socket.socketpair()
    with pytest.raises(ValueError):
        server._Body(guard_side, b"").send(sink, True, 0)
    sink.close()
    cut = b""
    while data := drain.recv(100):
        cut += data
    assert cut == b"5\r\nhello"


def test_an_oidc_token_refreshed_through_the_guard_lands_in_the_entry_file(tmp_path, fake_api, kubeconfig,
                                                                          kubectl_bin, run_kctx):
    import yaml
    from apiguard_support import FakeIssuer, jwt
    from fakeapi import session_ca

    now = int(time.time())
    expired = jwt({"iss": "x", "sub": "alice", "aud": "kctx", "exp": now - 600, "iat": now - 4200})
    fresh = jwt({"iss": "x", "sub": "alice", "aud": "kctx", "exp": now + 3600, "iat": now})
    api = fake_api(require_auth=True, name="oidc")
    api.tokens = {fresh}  # the expired token is refused: only a refresh gets through
    with FakeIssuer("refresh-1", fresh, "refresh-2") as issuer:
        src = kubeconfig([{"name": "oidc-prod", "server": api, "user_config": {"auth-provider": {
            "name": "oidc", "config": {
                "client-id": "kctx", "client-secret": "s3cret", "id-token": expired, "refresh-token": "refresh-1",
                "idp-issuer-url": issuer.url, "idp-certificate-authority-data": session_ca().pem_b64}}}}])
        before = src.read_text()
        run_kctx("import", str(src), "--tier", "prod", check=True)
        entry = Path(paths.entry_file("oidc-prod"))
        sh = Shell(kubectl_bin)
        try:
            use(sh, "oidc-prod")
            r = sh.run(kubectl_bin, "get", "pods")
            assert r.returncode == 0, r.stderr
            assert [q.token for q in api.requests if q.path.endswith("/pods")] == [fresh]
            assert len(issuer.refreshes) == 1 and issuer.refreshes[0]["grant_type"] == ["refresh_token"]
            config = yaml.safe_load(entry.read_text())["users"][0]["user"]["auth-provider"]["config"]
            assert config["id-token"] == fresh and config["refresh-token"] == "refresh-2"
            assert oct(entry.stat().st_mode & 0o777) == "0o600"
            assert src.read_text() == before  # the user's own file is never touched
            # No new copy: the session and the guard's files hold neither token.
            for folder in (paths.sessions_dir(), gstate.guard_dir()):
                for name in os.listdir(folder):
                    path = os.path.join(folder, name)
                    if os.path.isfile(path) and not name.endswith(".sock"):
                        text = Path(path).read_bytes()
                        assert fresh.encode() not in text and b"refresh-2" not in text, path
            r = sh.run(kubectl_bin, "get", "pods")  # the new token is used, no second refresh
            assert r.returncode == 0 and len(issuer.refreshes) == 1
            r = sh.run(kubectl_bin, "delete", "pod", "x")
            assert r.returncode != 0 and "kctx: oidc-prod is protected" in r.stderr and writes(api) == []
        finally:
            sh.exit()


def test_an_exec_plugin_credential_is_cached_until_its_expiry(tmp_path, fake_api, kubeconfig, kubectl_bin,
                                                              run_kctx):
    api = fake_api(require_auth=True, name="execcache")
    plugin = tmp_path / "auth-plugin"
    runs = tmp_path / "plugin-runs"
    plugin.write_text(
        "#!/bin/sh\n"
        f"echo run >> '{runs}'\n"
        "until=$(date -u -d \"@$(( $(date +%s) + 4 ))\" +%Y-%m-%dT%H:%M:%SZ)\n"
        "printf '{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", "
        f"\"status\": {{\"token\": \"{api.token}\", \"expirationTimestamp\": \"%s\"}}}}' \"$until\"\n")
    plugin.chmod(0o755)
    src = kubeconfig([{"name": "exec-prod", "server": api, "user_config": exec_user(str(plugin))}])
    run_kctx("import", str(src), "--tier", "prod", check=True)
    sh = Shell(kubectl_bin)
    try:
        use(sh, "exec-prod")
        started = time.monotonic()
        for _ in range(3):  # three clients, one kubectl proxy: one credential while it is valid
            r = sh.run(kubectl_bin, "get", "pods")
            assert r.returncode == 0, r.stderr
        if time.monotonic() - started < 3:
            assert runs.read_text().count("run") == 1
        time.sleep(max(0.0, started + 4.5 - time.monotonic()))  # past its expirationTimestamp
        r = sh.run(kubectl_bin, "get", "pods")
        assert r.returncode == 0, r.stderr
        assert runs.read_text().count("run") >= 2
        gets = [q for q in api.requests if q.path.endswith("/pods")]
        assert len(gets) == 4 and all(q.token == api.token for q in gets)
    finally:
        sh.exit()


def test_an_entry_at_a_protected_servers_address_is_guarded_too(fake_api, kubeconfig, kubectl_bin, run_kctx):
    api = fake_api(name="spelled")
    elsewhere = fake_api(name="elsewhere")
    src = kubeconfig([{"name": "prod", "server": api},
                      {"name": "local", "server": f"https://localhost:{api.port}"},  # same address
                      {"name": "upper", "server": f"HTTPS://127.0.0.1:{api.port}//"},  # same URL
                      {"name": "apart", "server": elsewhere}])
    run_kctx("import", str(src), check=True)
    for name in ("local", "upper", "apart"):
        run_kctx("tier", name, "dev", check=True)
    sh = Shell(kubectl_bin)
    try:
        for name, why in (("local", f"its server is at the address of the protected entry prod (127.0.0.1:{api.port})"),
                          ("upper", "its server is the server of the protected entry prod")):
            use(sh, name)
            assert sh.kubeconfig == sh.session, name  # the guard alone
            r = sh.run(kubectl_bin, "delete", "pod", "web-1")
            assert r.returncode != 0 and f"kctx: {name} is protected ({why})" in r.stderr, r.stderr
        assert writes(api) == []
        use(sh, "apart")  # another server: no guard
        assert sh.kubeconfig == f"{sh.session}:{paths.entry_file('apart')}"
        assert sh.run(kubectl_bin, "delete", "pod", "web-1").returncode == 0
        assert writes(elsewhere) == ["DELETE /api/v1/namespaces/default/pods/web-1"] and writes(api) == []
    finally:
        sh.exit()
