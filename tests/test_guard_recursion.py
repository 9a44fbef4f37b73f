"""No recursion: a credential plugin that calls `kubectl` (which is kctx's `k` on PATH) still
works, kctx's own `k` is never taken for kubectl, and a loop through a wrapper is cut short."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from fakeapi import FakeAPIServer, write_kubeconfig
from guard_support import K


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _env(tmp_path: Path, kubeconfig: Path, path_dirs: list[Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCTX_", "KUBE"))}
    env["KUBECONFIG"] = str(kubeconfig)
    # No system folders: this machine may have a /usr/bin/kubectl, which must not count.
    tools = tmp_path / "tools"
    if not tools.exists():
        tools.mkdir()
        (tools / "readlink").symlink_to(shutil.which("readlink") or "/bin/readlink")
    env["PATH"] = os.pathsep.join([*map(str, path_dirs), str(tools)])
    env["COUNT_FILE"] = str(tmp_path / "count")
    return env


def test_credential_plugin_calling_kubectl_that_is_k(tmp_path: Path, fake_api, kubectl_bin: str) -> None:  # type: ignore[no-untyped-def]
    api: FakeAPIServer = fake_api(require_auth=True, name="auth")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "kubectl").symlink_to(K)  # a user made kubectl point at k
    real = tmp_path / "real"
    real.mkdir()
    (real / "kubectl").symlink_to(kubectl_bin)
    plugin = _script(tmp_path / "plugin.sh", f"""#!/bin/sh
echo "$$ $KCTX_IN_K" >> "$COUNT_FILE"
kubectl version --client -o json > /dev/null || exit 7
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"{api.token}"}}}}'
""")
    kc = tmp_path / "config"
    write_kubeconfig(kc, [{"name": "auth", "server": api, "token": None,
                           "user_config": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                    "command": str(plugin), "interactiveMode": "Never"}}}])
    env = _env(tmp_path, kc, [shim, real])
    for args in (["get", "pods"], ["delete", "pod", "x"]):
        proc = subprocess.run([K, *args], env=env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, start_new_session=True, check=False)
        assert proc.returncode == 0, proc.stderr
    assert any(r.token == api.token for r in api.requests)
    assert [str(r) for r in api.writes()] == ["DELETE /api/v1/namespaces/default/pods/x"]
    calls = (tmp_path / "count").read_text().splitlines()
    assert 1 <= len(calls) <= 4, calls  # once or so per command, never a cascade
    assert all(line.split()[1] == "1" for line in calls)  # plugins see they run under k


def test_own_k_is_never_kubectl(tmp_path: Path, kubectl_bin: str) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "kubectl").symlink_to(K)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "kubectl").write_bytes(Path(K).read_bytes())  # a copy carries kctx's marker
    (copy / "kubectl").chmod(0o755)
    real = tmp_path / "real"
    real.mkdir()
    (real / "kubectl").symlink_to(kubectl_bin)
    env = _env(tmp_path, tmp_path / "none", [shim, copy, real])
    proc = subprocess.run([K, "version", "--client"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and "Client Version" in proc.stdout, proc.stderr
    env["PATH"] = os.pathsep.join([str(shim), str(copy), str(tmp_path / "tools")])
    proc = subprocess.run([K, "version", "--client"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "kubectl" in proc.stderr and "Traceback" not in proc.stderr


def test_a_wrapper_leading_back_to_k_is_cut_short(tmp_path: Path) -> None:
    wrap = tmp_path / "wrap"
    wrap.mkdir()
    _script(wrap / "kubectl", f'#!/bin/sh\necho x >> "$COUNT_FILE"\nexec {K} "$@"\n')
    env = _env(tmp_path, tmp_path / "none", [wrap])
    proc = subprocess.run([K, "get", "pods"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "leads back to k" in proc.stderr
    assert len((tmp_path / "count").read_text().splitlines()) <= 4


def test_kubectl_gets_default_signal_dispositions(tmp_path: Path) -> None:
    """Python ignores SIGPIPE; kubectl run by k must not inherit that (`k ... | head`)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    _script(probe / "kubectl", '#!/bin/sh\nwhile read -r l; do case $l in SigIgn:*) echo "$l";; esac; done'
                               ' < /proc/$$/status\n')
    env = _env(tmp_path, tmp_path / "none", [probe])
    env["KCTX_NO_FAST"] = "1"
    proc = subprocess.run([K, "version", "--client"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    ignored = int(proc.stdout.split("SigIgn:")[1].split()[0], 16)
    assert not ignored & (1 << (13 - 1))  # SIGPIPE
