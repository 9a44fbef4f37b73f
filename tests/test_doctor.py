"""kctx doctor on a healthy and on a broken setup: exit codes, one line per finding, --fix, JSON."""
from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPIServer
from mirror import KubectlMirror

from kctx import paths

Run = Callable[..., Any]


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@pytest.fixture
def healthy(fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path], mirror: KubectlMirror,
            kubectl_bin: str, run_kctx: Run, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    prod = fake_api("v1.30.4-eks-a737599", name="prod")
    dev = fake_api("v1.31.0-rc.1", name="dev")
    for v in ("1.30.4", "1.31.0-rc.1"):
        mirror.add_version(v, kubectl_bin)
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", mirror.url)
    path = kubeconfig([{"name": "prod", "server": prod}, {"name": "dev", "server": dev}])
    assert run_kctx("import", str(path)).returncode == 0
    for v in ("1.30.4", "1.31.0-rc.1"):
        assert run_kctx("kubectl", "install", v).returncode == 0
    monkeypatch.setenv("KCTX_SHELL", "bash")
    return {"prod": prod, "dev": dev, "mirror": mirror}


def lines_at(out: str, level: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(level)]


def test_healthy_setup(healthy: dict[str, Any], run_kctx: Run) -> None:
    r = run_kctx("doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    assert lines_at(r.stdout, "FAIL") == []
    assert "shell integration loaded (bash)" in r.stdout
    assert "prod: server v1.30.4-eks-a737599" in r.stdout
    assert "prod: v1.30.4 (matched to server v1.30.4-eks-a737599)" in r.stdout
    assert "dev: v1.31.0-rc.1" in r.stdout
    assert "everything looks right" in r.stdout or "warning" in r.stdout
    doc = json.loads(run_kctx("doctor", "-o", "json").stdout)
    assert doc["ok"] is True and all(c["level"] != "fail" for c in doc["checks"])


def test_offline_makes_no_request(healthy: dict[str, Any], run_kctx: Run) -> None:
    run_kctx("doctor")
    for s in (healthy["prod"], healthy["dev"]):
        s.clear()
    r = run_kctx("doctor", "--offline")
    assert r.returncode == 0, r.stdout
    assert healthy["prod"].requests == [] and healthy["dev"].requests == []


def test_broken_setup(healthy: dict[str, Any], run_kctx: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    run_kctx("doctor")  # learn both versions while the servers answer
    monkeypatch.delenv("KCTX_SHELL")
    os.chmod(paths.entry_file("prod"), 0o644)
    os.makedirs(paths.sessions_dir(), mode=0o700, exist_ok=True)
    stale = os.path.join(paths.sessions_dir(), f"{dead_pid()}-0123456789ab.json")
    with open(stale, "w") as f:
        f.write("{}")
    healthy["dev"].stop()
    run_kctx("kubectl", "pin", "prod", "1.27.1")
    with open(paths.kubectl_binary("1.31.0-rc.1"), "r+b") as f:
        f.seek(4096)
        f.write(b"\xde\xad\xbe\xef")

    r = run_kctx("doctor")
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    fails = "\n".join(lines_at(r.stdout, "FAIL"))
    assert "shell integration is not set up" in fails
    assert f"{paths.entry_file('prod')} has mode 0644" in fails
    assert "dev: cannot reach" in fails
    assert "prod: kubectl v1.27.1 is outside the skew policy" in fails
    assert "v1.31.0-rc.1 does not match the digest" in fails
    assert "stale session file" in "\n".join(lines_at(r.stdout, "warn"))
    assert "fix: kctx kubectl pin prod auto" in r.stdout
    assert "problem(s)" in r.stdout

    doc = json.loads(run_kctx("doctor", "-o", "json").stdout)
    assert doc["ok"] is False
    assert {c["check"] for c in doc["checks"] if c["level"] == "fail"} >= {
        "integration", "file modes", "servers", "kubectl"}


def test_fix_tightens_modes_and_removes_stale_sessions(healthy: dict[str, Any], run_kctx: Run) -> None:
    os.chmod(paths.entry_file("dev"), 0o644)
    os.chmod(paths.entries_dir(), 0o755)
    os.makedirs(paths.sessions_dir(), mode=0o700, exist_ok=True)
    stale = os.path.join(paths.sessions_dir(), f"{dead_pid()}-abcdef012345.json")
    with open(stale, "w") as f:
        f.write("{}")
    r = run_kctx("doctor", "--fix", "--offline")
    assert r.returncode == 0, r.stdout
    assert stat.S_IMODE(os.stat(paths.entry_file("dev")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(paths.entries_dir()).st_mode) == 0o700
    assert not os.path.exists(stale)
    assert "removed 1 stale session file" in r.stdout


def test_broken_entry_and_bad_config_never_crash(healthy: dict[str, Any], run_kctx: Run) -> None:
    with open(paths.entry_file("dev"), "w") as f:
        f.write("contexts: [oops\n")
    os.makedirs(paths.config_dir(), exist_ok=True)
    with open(paths.config_file(), "w") as f:
        f.write("tiers: {prod: {color: nope}}\n")
    r = run_kctx("doctor", "--offline")
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    fails = "\n".join(lines_at(r.stdout, "FAIL"))
    assert "dev:" in fails and "not valid YAML" in fails
    assert "config" in fails


def test_empty_store(run_kctx: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCTX_SHELL", "zsh")
    r = run_kctx("doctor")
    assert r.returncode == 0, r.stdout
    assert "the store is empty" in r.stdout and "fix: kctx import" in r.stdout


@pytest.mark.parametrize(("rc", "line"), [(".bashrc", 'eval "$(kctx init bash)"'),
                                          (".config/fish/config.fish", "kctx init fish | source")])
def test_integration_found_in_startup_files(rc: str, line: str, run_kctx: Run, sandbox: Any) -> None:
    r = run_kctx("doctor", "--offline")
    assert "the shell integration is not set up" in r.stdout and r.returncode == 1
    path = sandbox.home / rc
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# mine\n{line}\n")
    r = run_kctx("doctor", "--offline")
    assert f"shell integration set up in {path}" in r.stdout
    assert r.returncode == 0, r.stdout


def test_team_policy_files_checked(run_kctx: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """doctor reads each policy file afresh: a good one's rules counted, a broken one's file and
    line named, a missing one said; never a traceback."""
    good = tmp_path / "good.yaml"
    good.write_text("rules:\n  - {tier: prod, match: {entry: 'prod-*'}}\n  - {tier: dev, match: {entry: 'kind-*'}}\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - tier: prod\n    match: {entry: x}\n  - tier: prod\n    colour: red\n")
    monkeypatch.setenv("KCTX_POLICY", f"{good}:{broken}:{tmp_path / 'missing.yaml'}")
    r = run_kctx("doctor", "--offline")
    assert "Traceback" not in r.stdout + r.stderr
    assert r.returncode == 1
    oks = "\n".join(lines_at(r.stdout, "ok  "))
    fails = "\n".join(lines_at(r.stdout, "FAIL"))
    assert f"policy: {good}: 2 rule(s)" in oks
    assert f"{broken}:5: rule 2: unknown key 'colour'" in fails
    assert f"{tmp_path / 'missing.yaml'}: cannot read the policy file" in fails
    monkeypatch.delenv("KCTX_POLICY")
    r = run_kctx("doctor", "--offline", "-o", "json")
    checks = [c for c in json.loads(r.stdout)["checks"] if c["check"] == "policy"]
    assert [c["level"] for c in checks] == ["ok"] and "no team policy" in checks[0]["message"]
