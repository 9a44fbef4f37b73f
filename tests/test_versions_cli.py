"""kctx kubectl which|pin|install|list|prune and the version columns of kctx list, run as a user would."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPIServer
from mirror import KubectlMirror

from kctx import paths

Run = Callable[..., Any]


@pytest.fixture
def setup(fake_api: Callable[..., FakeAPIServer], kubeconfig: Callable[..., Path], mirror: KubectlMirror,
          kubectl_bin: str, run_kctx: Run, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two entries (EKS 1.29, GKE 1.30) and a mirror with their releases and a few more."""
    eks = fake_api("v1.29.6-eks-1de2ab1", name="eks", minor="29+")
    gke = fake_api("v1.30.1-gke.1329003", name="gke")
    for v in ("1.29.6", "1.30.1", "1.31.1", "1.31.2", "1.27.1"):
        mirror.add_version(v, kubectl_bin)
    mirror.add_version("1.28.9", kubectl_bin, tamper=True)
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", mirror.url)
    path = kubeconfig([{"name": "eks-prod", "server": eks}, {"name": "gke-dev", "server": gke}])
    r = run_kctx("import", str(path))
    assert r.returncode == 0, r.stderr
    return {"eks": eks, "gke": gke, "mirror": mirror}


def no_traceback(r: Any) -> None:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout


def test_which_learns_the_version_but_never_downloads(setup: dict[str, Any], run_kctx: Run) -> None:
    r = run_kctx("kubectl", "which", "eks-prod")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == paths.kubectl_binary("1.29.6")
    assert "matched to server v1.29.6-eks-1de2ab1" in r.stderr and "not installed yet" in r.stderr
    assert setup["mirror"].downloads() == []
    assert [q.path for q in setup["eks"].requests] == ["/version"]


def test_install_then_which(setup: dict[str, Any], run_kctx: Run) -> None:
    r = run_kctx("kubectl", "install", "1.29.6")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == paths.kubectl_binary("1.29.6") and os.access(r.stdout.strip(), os.X_OK)
    r = run_kctx("kubectl", "which", "eks-prod", "-o", "json")
    doc = json.loads(r.stdout)
    assert doc["installed"] and doc["version"] == "1.29.6" and doc["source"] == "server"
    assert doc["skew_ok"] is True
    r = run_kctx("kubectl", "install", "1.29.6")
    assert r.returncode == 0 and "already installed" in r.stderr


def test_install_minor_takes_the_newest_patch(setup: dict[str, Any], run_kctx: Run) -> None:
    r = run_kctx("kubectl", "install", "1.31")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == paths.kubectl_binary("1.31.2")


@pytest.mark.parametrize(("version", "message"), [
    ("1.99.1", "has no kubectl v1.99.1"),
    ("1.99", "stable-1.99.txt"),
    ("1.28.9", "does not match"),
    ("banana", "not a kubectl version"),
])
def test_install_failures_are_one_line(version: str, message: str, setup: dict[str, Any], run_kctx: Run) -> None:
    r = run_kctx("kubectl", "install", version)
    assert r.returncode == 1
    no_traceback(r)
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""


def test_pin_and_auto(setup: dict[str, Any], run_kctx: Run) -> None:
    r = run_kctx("kubectl", "pin", "eks-prod", "1.30.1")
    assert r.returncode == 0 and "pinned to v1.30.1" in r.stderr
    assert "warning" not in r.stderr  # 1.30 against a 1.29 server: within the policy
    r = run_kctx("kubectl", "which", "eks-prod")
    assert r.stdout.strip() == paths.kubectl_binary("1.30.1") and "pinned to v1.30.1" in r.stderr
    r = run_kctx("show", "eks-prod")
    assert "1.30.1" in r.stdout
    r = run_kctx("kubectl", "pin", "eks-prod", "auto")
    assert r.returncode == 0
    r = run_kctx("kubectl", "which", "eks-prod")
    assert r.stdout.strip() == paths.kubectl_binary("1.29.6")


def test_pin_outside_the_skew_policy_warns(setup: dict[str, Any], run_kctx: Run) -> None:
    run_kctx("kubectl", "which", "eks-prod")  # learn the server version
    r = run_kctx("kubectl", "pin", "eks-prod", "1.27.1")
    assert r.returncode == 0
    assert "outside the version skew policy" in r.stderr and "1.28 to 1.30" in r.stderr
    r = run_kctx("kubectl", "which", "eks-prod")
    assert "outside the version skew policy" in r.stderr


@pytest.mark.parametrize("bad", ["1", "latest", "1.30.x", "../../etc"])
def test_pin_refuses_bad_versions(bad: str, setup: dict[str, Any], run_kctx: Run) -> None:
    r = run_kctx("kubectl", "pin", "eks-prod", bad)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"kctx: not a kubectl version: {bad!r} "
                                "(a release such as 1.30.4, a minor such as 1.30, or 'auto')")
    no_traceback(r)


def test_unknown_entry_and_no_active_entry(setup: dict[str, Any], run_kctx: Run) -> None:
    r = run_kctx("kubectl", "which", "nope")
    assert r.returncode == 1 and "no entry named 'nope'" in r.stderr
    r = run_kctx("kubectl", "which")
    assert r.returncode == 1 and "targets no entry" in r.stderr
    r = run_kctx("kubectl", "pin", "nope", "1.30")
    assert r.returncode == 1 and "no entry named" in r.stderr


def test_list_and_prune(setup: dict[str, Any], run_kctx: Run) -> None:
    for v in ("1.29.6", "1.31.2", "1.27.1"):
        assert run_kctx("kubectl", "install", v).returncode == 0
    run_kctx("kubectl", "which", "eks-prod")
    run_kctx("kubectl", "which", "gke-dev")
    r = run_kctx("kubectl", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "SIZE", "USED", "BY"]
    row = next(line for line in lines if line.startswith("v1.29.6 "))
    assert "eks-prod" in row and "MB" in row
    assert any(line.startswith("v1.30.1 (not installed)") and "gke-dev" in line for line in lines)
    doc = json.loads(run_kctx("kubectl", "list", "-o", "json").stdout)
    by = {v["version"]: v for v in doc["versions"]}
    assert by["1.29.6"]["entries"] == ["eks-prod"] and by["1.31.2"]["entries"] == []
    assert by["1.29.6"]["size"] > 1_000_000

    r = run_kctx("kubectl", "prune", "--dry-run")
    assert "would remove kubectl v1.31.2" in r.stderr and "v1.29.6" not in r.stderr
    assert os.path.exists(paths.kubectl_binary("1.31.2"))
    r = run_kctx("kubectl", "prune")
    assert r.returncode == 0
    assert "removed kubectl v1.31.2" in r.stderr and "removed kubectl v1.27.1" in r.stderr
    assert not os.path.exists(os.path.dirname(paths.kubectl_binary("1.31.2")))
    assert os.path.exists(paths.kubectl_binary("1.29.6"))
    r = run_kctx("kubectl", "prune")
    assert "nothing to prune" in r.stderr


def test_prune_keeps_pinned_versions(setup: dict[str, Any], run_kctx: Run) -> None:
    for v in ("1.29.6", "1.31.2"):
        run_kctx("kubectl", "install", v)
    run_kctx("kubectl", "pin", "gke-dev", "1.31.2")
    run_kctx("kubectl", "which", "eks-prod")
    run_kctx("kubectl", "prune")
    assert os.path.exists(paths.kubectl_binary("1.31.2")) and os.path.exists(paths.kubectl_binary("1.29.6"))


def test_kctx_list_columns_come_from_the_cache_only(setup: dict[str, Any], run_kctx: Run) -> None:
    r = run_kctx("list")
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    assert header[-2:] == ["VERSION", "KUBECTL"]
    assert "-" in r.stdout.splitlines()[1]  # nothing known yet
    assert setup["eks"].requests == [] and setup["gke"].requests == []  # list never asks servers

    run_kctx("kubectl", "which", "eks-prod")
    run_kctx("kubectl", "which", "gke-dev")
    run_kctx("kubectl", "pin", "gke-dev", "1.27.1")
    for s in (setup["eks"], setup["gke"]):
        s.stop()
    r = run_kctx("list")
    rows = {line.split()[0]: line for line in r.stdout.splitlines()[1:]}
    assert "v1.29.6-eks-1de2ab1" in rows["eks-prod"] and "v1.29.6" in rows["eks-prod"]
    assert "v1.27.1 (pin)" in rows["gke-dev"] and "⚠ skew" in rows["gke-dev"]
    assert "skew" not in rows["eks-prod"]
    doc = json.loads(run_kctx("list", "-o", "json").stdout)
    by = {e["name"]: e for e in doc}
    assert by["eks-prod"]["server_version"] == "v1.29.6-eks-1de2ab1"
    assert by["eks-prod"]["kubectl"] == "1.29.6" and by["eks-prod"]["skew_ok"] is True
    assert by["gke-dev"]["skew_ok"] is False and by["gke-dev"]["kubectl_source"] == "pin"


def test_skew_marker_for_the_prompt(setup: dict[str, Any], run_kctx: Run) -> None:
    from kctx.kubectl import choice
    from kctx.store import Store

    run_kctx("kubectl", "which", "gke-dev")
    rec = {"server": Store().get("gke-dev").server}
    assert choice.skew_marker(rec) == ""
    assert choice.skew_marker({**rec, "pin": "1.32.0"}) == choice.MARKER
    assert choice.skew_marker({**rec, "pin": "1.31.1"}) == ""
    assert choice.skew_marker({"server": "https://unknown.invalid"}) == ""
    assert choice.skew_marker(None) == ""
