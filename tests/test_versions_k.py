"""`k` runs the kubectl matched to each entry's server: end to end with the real guard, fake API
servers reporting managed-distro versions and the local HTTPS mirror.

The mirror serves, under each version number, a small stand-in script that notes its version
and then execs the real kubectl: so the tests see exactly which kubectl `k` ran, and a first
download is quick.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPIServer, exec_user, write_plugin
from mirror import KubectlMirror

from kctx import paths
from kctx.kubectl import probe

Run = Callable[..., Any]
VENV_BIN = Path(sys.executable).parent


class Versions:
    """Stand-in kubectl binaries, one per version, each logging its version to one file."""

    def __init__(self, folder: Path, real: str) -> None:
        self.folder = folder
        self.log = folder / "ran"
        self.real = real
        folder.mkdir(exist_ok=True)

    def binary(self, version: str) -> Path:
        path = self.folder / f"kubectl-{version}"
        if not path.exists():
            path.write_text(f"#!/bin/sh\necho {version} >> '{self.log}'\nexec '{self.real}' \"$@\"\n")
            path.chmod(0o755)
        return path

    def ran(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)


@pytest.fixture
def stubs(tmp_path: Path, kubectl_bin: str) -> Versions:
    return Versions(tmp_path / "stubs", kubectl_bin)


@pytest.fixture
def world(fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path], mirror: KubectlMirror,
          stubs: Versions, run_kctx: Run, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    servers = {
        "eks-prod": fake_api("v1.29.6-eks-1de2ab1", name="eks-prod", minor="29+"),
        "gke-dev": fake_api("v1.30.1-gke.1329003", name="gke-dev"),
        "k3s-lab": fake_api("v1.28.5+k3s1", name="k3s-lab"),
        "rc-test": fake_api("v1.31.0-rc.1", name="rc-test"),
    }
    for v in ("1.29.6", "1.30.1", "1.28.5", "1.31.0-rc.1", "1.30.9", "1.27.1"):
        mirror.add_version(v, stubs.binary(v))
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", mirror.url)
    os.makedirs(paths.config_dir(), exist_ok=True)
    with open(paths.config_file(), "w", encoding="utf-8") as f:
        f.write("kubectl:\n  probe_timeout: 1\n")
    path = kubeconfig([{"name": n, "server": s} for n, s in servers.items()])
    r = run_kctx("import", str(path), "--tier", "dev")
    assert r.returncode == 0, r.stderr
    for name in servers:  # learned as `kctx use` does in the background: k never probes while it has a kubectl
        learn(run_kctx, name)
    return {"servers": servers, "mirror": mirror, "config": path}


def learn(run_kctx: Run, name: str, **env: str) -> None:
    """The server's version, learned now (`kctx kubectl which` asks the server, never downloads)."""
    r = run_kctx("kubectl", "which", name, env=env)
    assert r.returncode == 0, r.stderr


def settle(timeout: float = 60.0) -> None:
    """Wait for kctx's background downloads: a kubectl here that fits the server runs at once,
    and the server's own release is fetched for the next command."""
    folder = os.path.dirname(paths.fetch_marker("x"))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(n.startswith("@fetch-") for n in (os.listdir(folder) if os.path.isdir(folder) else [])):
            return
        time.sleep(0.1)
    raise AssertionError("a background download did not finish")


def k_on(run_k: Run, entry: str, *args: str, **env: str | None) -> Any:
    """`k ARGS` in a shell whose KUBECONFIG is the entry's file."""
    return run_k(*args, env={"KUBECONFIG": paths.entry_file(entry), **env}, timeout=120)


def said(r: Any) -> list[str]:
    """kctx's own lines on stderr (kubectl writes there too)."""
    return [line for line in r.stderr.splitlines() if line.startswith("kctx")]


def probes(api: FakeAPIServer) -> list[Any]:
    """Version requests kctx made (kubectl's own carry kubectl's user agent)."""
    return [r for r in api.requests if r.path == "/version" and r.headers.get("user-agent") == "kctx"]


def test_each_entry_gets_its_servers_kubectl(world: dict[str, Any], stubs: Versions, run_k: Run) -> None:
    expected = {"eks-prod": "1.29.6", "gke-dev": "1.30.1", "k3s-lab": "1.28.5", "rc-test": "1.31.0-rc.1"}
    for entry, version in expected.items():
        # A kubectl installed for another entry may fit this server's minor: it runs at once,
        # while the server's own release is fetched for the next command.
        assert k_on(run_k, entry, "get", "ns").returncode == 0
        settle()
        stubs.clear()
        r = k_on(run_k, entry, "get", "ns")
        assert r.returncode == 0, r.stderr
        assert stubs.ran() == [version], (entry, r.stderr)
        assert said(r) == []  # quiet: no terminal, no progress bar, no warning
        assert os.access(paths.kubectl_binary(version), os.X_OK)


def test_one_download_then_none_and_no_probe_on_a_warm_cache(world: dict[str, Any], stubs: Versions,
                                                             run_k: Run) -> None:
    eks, mirror = world["servers"]["eks-prod"], world["mirror"]
    assert k_on(run_k, "eks-prod", "get", "ns").returncode == 0
    assert len(mirror.downloads("1.29.6")) == 1
    assert len(probes(eks)) == 1
    mirror.clear()
    eks.clear()
    for _ in range(3):
        assert k_on(run_k, "eks-prod", "get", "pods").returncode == 0
    assert mirror.requests == []
    assert probes(eks) == []  # beyond kubectl's own requests, nothing
    assert all(r.path != "/version" for r in eks.requests)
    assert stubs.ran() == ["1.29.6"] * 4


def test_pin_and_auto(world: dict[str, Any], stubs: Versions, run_k: Run, run_kctx: Run) -> None:
    assert run_kctx("kubectl", "pin", "gke-dev", "1.30.9").returncode == 0
    assert k_on(run_k, "gke-dev", "get", "ns").returncode == 0
    assert stubs.ran() == ["1.30.9"]
    assert run_kctx("kubectl", "pin", "gke-dev", "auto").returncode == 0
    assert k_on(run_k, "gke-dev", "get", "ns").returncode == 0  # 1.30.9 fits meanwhile
    settle()
    stubs.clear()
    assert k_on(run_k, "gke-dev", "get", "ns").returncode == 0
    assert stubs.ran() == ["1.30.1"]


def test_pin_outside_the_policy_runs_but_warns(world: dict[str, Any], stubs: Versions, run_k: Run,
                                               run_kctx: Run) -> None:
    run_kctx("kubectl", "which", "gke-dev")
    run_kctx("kubectl", "pin", "gke-dev", "1.27.1")
    r = k_on(run_k, "gke-dev", "get", "ns")
    assert r.returncode == 0 and stubs.ran() == ["1.27.1"]
    warnings = said(r)
    assert len(warnings) == 1 and "outside the version skew policy" in warnings[0]


def test_missing_artifact_falls_back_to_newest_patch(world: dict[str, Any], stubs: Versions, run_k: Run,
                                                     fake_api: Callable[..., FakeAPIServer],
                                                     kubeconfig: Callable[..., Path], run_kctx: Run) -> None:
    mirror = world["mirror"]
    api = fake_api("v1.30.4-eks-a737599", name="eks-new")  # the mirror has no 1.30.4
    mirror.add_version("1.30.4", stubs.binary("1.30.4"), missing=True)
    run_kctx("import", str(kubeconfig([{"name": "eks-new", "server": api}], name="new")))
    learn(run_kctx, "eks-new")
    r = k_on(run_k, "eks-new", "get", "ns")
    assert r.returncode == 0, r.stderr
    assert stubs.ran() == ["1.30.9"]
    assert "/release/stable-1.30.txt" in [q.path for q in mirror.requests]
    mirror.clear()
    assert k_on(run_k, "eks-new", "get", "ns").returncode == 0
    assert mirror.requests == []  # the 404 is not asked again


def test_tampered_artifact_is_never_run(world: dict[str, Any], stubs: Versions, run_k: Run,
                                        fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path],
                                        run_kctx: Run) -> None:
    mirror = world["mirror"]
    api = fake_api("v1.26.3", name="old")
    mirror.add_version("1.26.3", stubs.binary("1.26.3"), tamper=True)
    run_kctx("import", str(kubeconfig([{"name": "old", "server": api}], name="old")))
    learn(run_kctx, "old")
    r = k_on(run_k, "old", "get", "ns")
    assert r.returncode == 0, r.stderr  # the command still runs, with a fallback kubectl
    assert "1.26.3" not in stubs.ran()
    warnings = said(r)
    assert len(warnings) == 1 and "does not match" in warnings[0] and "using" in warnings[0]
    assert not os.path.exists(paths.kubectl_binary("1.26.3"))
    assert not any(n.endswith(".tmp") for _, _, files in os.walk(paths.kubectl_cache_dir()) for n in files)


def test_server_down_without_cache_warns_and_is_bounded(world: dict[str, Any], stubs: Versions,
                                                        run_k: Run, fake_api: Callable[..., FakeAPIServer],
                                                        kubeconfig: Callable[..., Path], run_kctx: Run) -> None:
    api = fake_api("v1.28.5+k3s1", name="k3s-new")
    run_kctx("import", str(kubeconfig([{"name": "k3s-new", "server": api}], name="new")))
    api.stop()  # never learned: nothing cached
    t = time.monotonic()
    r = k_on(run_k, "k3s-new", "version", "--client")
    first = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    assert first < 6
    warnings = said(r)
    assert len(warnings) == 1 and "server version unknown" in warnings[0] and "using" in warnings[0]
    # Within the retry pause the next `k` does not try again: no timeout to wait for.
    t = time.monotonic()
    r = k_on(run_k, "k3s-new", "version", "--client")
    assert r.returncode == 0 and time.monotonic() - t < first + 1


def test_server_down_with_a_cached_version(world: dict[str, Any], stubs: Versions, run_k: Run) -> None:
    eks = world["servers"]["eks-prod"]
    assert k_on(run_k, "eks-prod", "version", "--client").returncode == 0
    rec = probe.load_cache()[eks.url]
    probe.save(eks.url, {**rec, "ok": True, "checked": time.time() - 3 * 86400})  # stale
    eks.stop()
    stubs.clear()
    t = time.monotonic()
    r = k_on(run_k, "eks-prod", "version", "--client")
    assert r.returncode == 0 and time.monotonic() - t < 5
    assert stubs.ran() == ["1.29.6"]  # the cached version, no waiting for the dead server
    assert said(r) == []


def test_mirror_down_with_a_warm_cache(world: dict[str, Any], stubs: Versions, run_k: Run) -> None:
    assert k_on(run_k, "gke-dev", "get", "ns").returncode == 0
    world["mirror"].stop()
    stubs.clear()
    r = k_on(run_k, "gke-dev", "get", "ns")
    assert r.returncode == 0 and stubs.ran() == ["1.30.1"] and said(r) == []


def test_mirror_down_on_a_cold_cache_falls_back(world: dict[str, Any], stubs: Versions, run_k: Run) -> None:
    world["mirror"].stop()
    r = k_on(run_k, "gke-dev", "version", "--client")
    assert r.returncode == 0
    warnings = said(r)
    assert len(warnings) == 1 and "cannot get kubectl v1.30.1" in warnings[0]


def test_concurrent_first_k(world: dict[str, Any], stubs: Versions) -> None:
    mirror = world["mirror"]
    mirror.add_version("1.29.6", stubs.binary("1.29.6"), slow=0.5)
    env = {**os.environ, "KUBECONFIG": paths.entry_file("eks-prod")}
    procs = [subprocess.Popen([str(VENV_BIN / "k"), "get", "ns"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(mirror.downloads("1.29.6")) == 1
    assert stubs.ran() == ["1.29.6", "1.29.6"]


def test_context_flag_picks_that_clusters_kubectl(world: dict[str, Any], stubs: Versions, run_k: Run) -> None:
    """kuberlr#61: `--context` must decide, not the current context."""
    user_config = str(world["config"])  # the imported kubeconfig: current-context eks-prod
    r = run_k("--kubeconfig", user_config, "--context", "gke-dev", "get", "ns")
    assert r.returncode == 0, r.stderr
    assert stubs.ran() == ["1.30.1"]
    assert run_k("--kubeconfig", user_config, "get", "ns").returncode == 0  # 1.30.1 fits meanwhile
    settle()
    stubs.clear()
    r = run_k("--kubeconfig", user_config, "get", "ns")
    assert r.returncode == 0 and stubs.ran() == ["1.29.6"]


def test_kctx_kubectl_env_wins(world: dict[str, Any], stubs: Versions, run_k: Run) -> None:
    r = k_on(run_k, "gke-dev", "version", "--client", KCTX_KUBECTL=str(stubs.binary("1.27.1")))
    assert r.returncode == 0 and stubs.ran() == ["1.27.1"]
    assert world["mirror"].requests == []


def test_exec_plugin_entry(world: dict[str, Any], stubs: Versions, run_k: Run, tmp_path: Path,
                           fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path],
                           run_kctx: Run) -> None:
    api = fake_api("v1.30.1-gke.1329003", require_auth=True, name="sso")
    plugin = write_plugin(tmp_path, api.token, "get-token")
    run_kctx("import", str(kubeconfig([{"name": "sso", "server": api, "user_config": exec_user(str(plugin))}],
                                      name="sso")))
    learn(run_kctx, "sso")
    r = k_on(run_k, "sso", "get", "ns")
    assert r.returncode == 0, r.stderr
    assert stubs.ran() == ["1.30.1"]
    assert probe.load_cache()[api.url]["via"] == "kubectl"


def test_credential_plugin_calling_kubectl_does_not_recurse(world: dict[str, Any], stubs: Versions,
                                                            run_k: Run, tmp_path: Path,
                                                            fake_api: Callable[..., FakeAPIServer],
                                                            kubeconfig: Callable[..., Path], run_kctx: Run,
                                                            kubectl_bin: str) -> None:
    """kuberlr#37: the plugin's command is `kubectl`, and the first kubectl on PATH is kctx's `k`."""
    api = fake_api("v1.30.1", require_auth=True, name="loop")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "kubectl").symlink_to(VENV_BIN / "k")
    write_plugin(shim, api.token, "kubectl-credtoken")  # `kubectl credtoken` runs this plugin
    run_kctx("import", str(kubeconfig([{"name": "loop", "server": api,
                                        "user_config": exec_user("kubectl", ["credtoken"])}], name="loop")))
    path = os.pathsep.join([str(shim), str(VENV_BIN), "/usr/bin", "/bin"])
    learn(run_kctx, "loop", PATH=path)
    t = time.monotonic()
    r = k_on(run_k, "loop", "get", "ns", PATH=path)
    assert time.monotonic() - t < 60
    assert r.returncode == 0, r.stderr
    # The outer kubectl, then the plugin's nested `kubectl credtoken` (through k, straight to it).
    assert stubs.ran() and set(stubs.ran()) == {"1.30.1"} and len(stubs.ran()) <= 3
    runs = (shim / "plugin-runs").read_text().count("run")
    assert 1 <= runs <= 4, runs


def test_warm_choice_imports_nothing_heavy(world: dict[str, Any], run_k: Run) -> None:
    assert k_on(run_k, "gke-dev", "get", "ns").returncode == 0
    code = ("import sys; from kctx.kubectl import choice; p = choice.resolve('gke-dev'); "
            "print(p); print(' '.join(m for m in ('httpx', 'yaml', 'json', 'packaging', 'ssl', 'subprocess', "
            "'click', 'hashlib') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                       env={**os.environ}, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    path, heavy = (r.stdout.splitlines() + [""])[:2]
    assert path == paths.kubectl_binary("1.30.1")
    assert heavy.strip() == ""


def session_for(entry: str) -> str:
    """A session file as `kctx use ENTRY` writes it; the KUBECONFIG value that goes with it."""
    from kctx import session
    from kctx.store import Store

    e = Store().get(entry)
    path = session.new_path(os.getpid())
    session.write(path, session.render(entry, e.cluster, e.user, None))
    return os.pathsep.join([path, paths.entry_file(entry)])


def test_kctx_shell_fast_path(world: dict[str, Any], stubs: Versions, run_k: Run, run_kctx: Run) -> None:
    """In a shell switched by `kctx use`, a plain command needs neither the whole index nor the target."""
    kubeconfig = session_for("eks-prod")
    r = run_k("get", "ns", env={"KUBECONFIG": kubeconfig})
    assert r.returncode == 0, r.stderr
    assert stubs.ran() == ["1.29.6"]
    assert os.path.exists(paths.entry_record_file("eks-prod"))
    # A pin rewrites the index: the small per-entry copy is refreshed, not trusted.
    assert run_kctx("kubectl", "pin", "eks-prod", "1.30.9").returncode == 0
    stubs.clear()
    assert run_k("get", "ns", env={"KUBECONFIG": kubeconfig}).returncode == 0
    assert stubs.ran() == ["1.30.9"]
    # --context elsewhere: the full target decides (that context is not in this KUBECONFIG).
    assert run_k("--kubeconfig", str(world["config"]), "--context", "gke-dev", "get", "ns",
                 env={"KUBECONFIG": kubeconfig}).returncode == 0  # 1.30.9 fits meanwhile
    settle()
    stubs.clear()
    r = run_k("--kubeconfig", str(world["config"]), "--context", "gke-dev", "get", "ns",
              env={"KUBECONFIG": kubeconfig})
    assert r.returncode == 0 and stubs.ran() == ["1.30.1"]


def test_session_entry_takes_only_the_plain_case(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from kctx import session
    from kctx.guard.args import parse
    from kctx.guard.target import Target
    from kctx.kubectl import choice

    kubeconfig = session_for("gke-dev")
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    name, rec = choice.session_entry(Target(parse(["get", "pods"]))) or ("", {})
    assert name == "gke-dev" and rec["server"] == world["servers"]["gke-dev"].url
    for argv in (["--context", "x", "get", "pods"], ["get", "pods", "--server=https://a"],
                 ["--kubeconfig", "/tmp/x", "get", "pods"], ["--user", "u", "get", "pods"]):
        assert choice.session_entry(Target(parse(argv))) is None, argv
    resolved = Target(parse(["get", "pods"]))
    assert resolved.entry == "gke-dev"
    assert choice.session_entry(resolved) is None  # resolved already: its own answer is used
    # Drift: `kubectl config use-context other` inside the session.
    sess = kubeconfig.split(os.pathsep)[0]
    session.write(sess, session.render("other", "c", "u", None))
    assert choice.session_entry(Target(parse(["get", "pods"]))) is None
    monkeypatch.setenv("KUBECONFIG", paths.entry_file("gke-dev"))
    assert choice.session_entry(Target(parse(["get", "pods"]))) is None


def test_emulated_minor_takes_that_minors_newest_patch(world: dict[str, Any], stubs: Versions, run_k: Run,
                                                        fake_api: Callable[..., FakeAPIServer],
                                                        kubeconfig: Callable[..., Path], run_kctx: Run) -> None:
    mirror = world["mirror"]
    api = fake_api("v1.33.1", name="emu", emulation=("1", "32"))
    for v in ("1.32.4", "1.32.7", "1.33.1"):
        mirror.add_version(v, stubs.binary(v))
    run_kctx("import", str(kubeconfig([{"name": "emu", "server": api}], name="emu")))
    learn(run_kctx, "emu")
    r = k_on(run_k, "emu", "get", "ns")
    assert r.returncode == 0, r.stderr
    assert stubs.ran() == ["1.32.7"]


def test_progress_bar_on_a_terminal(world: dict[str, Any], stubs: Versions) -> None:
    import pexpect

    env = {**os.environ, "KUBECONFIG": paths.entry_file("gke-dev")}
    child = pexpect.spawn(str(VENV_BIN / "k"), ["version", "--client"], env=env, timeout=60, encoding="utf-8")
    child.expect(r"kctx: kubectl v1\.30\.1 \[#+ *\] +\d+%")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert stubs.ran() == ["1.30.1"]


def test_warm_choice_in_a_kctx_shell_imports_nothing_heavy(world: dict[str, Any], run_k: Run) -> None:
    kubeconfig = session_for("eks-prod")
    assert run_k("get", "ns", env={"KUBECONFIG": kubeconfig}).returncode == 0
    code = ("import sys; from kctx.guard.args import parse; from kctx.guard.target import Target; "
            "from kctx.kubectl import choice; p = choice.resolve(None, Target(parse(['get', 'pods']))); print(p); "
            "print(' '.join(m for m in ('httpx', 'yaml', 'json', 'packaging', 'ssl', 'subprocess', 'click', "
            "'hashlib', 'kctx.store') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                       env={**os.environ, "KUBECONFIG": kubeconfig}, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    path, heavy = (r.stdout.splitlines() + [""])[:2]
    assert path == paths.kubectl_binary("1.29.6")
    assert heavy.strip() == ""
