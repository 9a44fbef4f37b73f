"""`k` from a plain (non-editable) `pip install .` into a fresh venv, as users get it: the
shell/Python polyglot finds its interpreter, skips site (no .pth runs), and works symlinked."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest
from fakeapi import write_kubeconfig

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fresh") / "venv"
    venv.create(target, with_pip=True)
    proc = subprocess.run([str(target / "bin" / "pip"), "install", "-q", str(ROOT)], capture_output=True,
                          text=True, timeout=600, check=False)
    if proc.returncode != 0:
        pytest.skip(f"pip install . failed here (no package index?): {proc.stderr[-500:]}")
    site = next((target / "lib").glob("python*/site-packages"))
    (site / "zz-kctx-test.pth").write_text("import sys; sys.stderr.write('PTH-RAN\\n')\n")
    return target / "bin"


def _env(path: list[str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCTX_", "KUBE"))}
    env["PATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


def test_help_without_and_with_kubectl(installed: Path, kubectl_path_dir: Path) -> None:
    bare = subprocess.run([str(installed / "k"), "--help"], env=_env([str(installed), "/usr/sbin", "/sbin"]),
                          capture_output=True, text=True, timeout=60, check=False)
    assert bare.returncode == 0, bare.stderr
    assert "k: kubectl with a guard" in bare.stdout and "KCTX_CONFIRM" in bare.stdout
    assert "PTH-RAN" not in bare.stderr  # started with -I -S: no site, no .pth
    full = subprocess.run([str(installed / "k"), "--help"], env=_env([str(installed), str(kubectl_path_dir)]),
                          capture_output=True, text=True, timeout=60, check=False)
    assert full.returncode == 0 and "kubectl controls the Kubernetes cluster manager" in full.stdout


def test_guards_from_the_installed_package(installed: Path, kubectl_bin: str, fake_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = fake_api(name="prod")
    kc = tmp_path / "config"
    write_kubeconfig(kc, [{"name": "prod", "server": api}])
    env = _env([str(installed), "/usr/bin", "/bin"], KCTX_HOME=str(tmp_path / "kctx"), HOME=str(tmp_path),
               KCTX_KUBECTL=kubectl_bin)
    subprocess.run([str(installed / "kctx"), "import", str(kc)], env=env, check=True, capture_output=True)
    env["KUBECONFIG"] = str(tmp_path / "kctx" / "data" / "entries" / "prod.yaml")
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    (link_dir / "k").symlink_to(installed / "k")  # as pipx exposes it
    for k in (installed / "k", link_dir / "k"):
        read = subprocess.run([str(k), "get", "pods"], env=env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, start_new_session=True, check=False)
        assert read.returncode == 0, read.stderr
        write = subprocess.run([str(k), "delete", "pod", "x"], env=env, capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL, start_new_session=True, check=False)
        assert write.returncode == 4 and "KCTX_CONFIRM=prod" in write.stderr
        assert "PTH-RAN" not in read.stderr + write.stderr
    assert [str(r) for r in api.writes()] == []
