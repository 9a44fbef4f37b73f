"""An open shell follows a change of its entry's tier in force, whoever made it: `kctx tier` in
this shell or another, a re-import, an edited configuration, a protected entry imported at the
same server. At the next prompt the shell is guarded (or no longer guarded) as a `kctx use`
would make it now, so a script cannot write to an entry that became protected after the shell
switched to it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from apiguard_support import guard_pids, wait_for
from guard_support import deploy_script, setup_guarded, writes
from pty_shell import SHELLS, PtyShell

from kctx import paths


def touch_later(path: str | Path) -> None:
    """Date `path` after everything written so far, even within one clock tick."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns, time.time_ns()) + 1_000_000))


@pytest.mark.parametrize("shell", SHELLS)
def test_an_open_shell_is_guarded_once_its_entry_becomes_protected(shell, tmp_path, fake_api, kubectl_bin,
                                                                   run_kctx):
    g = setup_guarded(tmp_path, fake_api, kubectl_bin)
    api = g.servers["dev"]
    deploy_script(tmp_path)
    env = {**os.environ, "KCTX_KUBECTL": kubectl_bin}
    with PtyShell(shell, env=env, cwd=str(tmp_path)) as sh:
        assert sh.run("kctx use dev").status == 0
        assert sh.var("KCTX_TIER") == "dev" and "guarded" not in sh.run("true").segment
        # the tier changed in this shell: the next prompt puts the guard in front
        r = sh.run("kctx tier dev prod")  # the hook runs before the prompt that follows
        assert r.status == 0 and r.segment.endswith(" guarded "), r.segment
        assert "kctx: this shell is guarded now (entry dev has the protected tier prod): its clients reach dev through the API guard" in r.output
        assert "guarded now" not in sh.run("true").output  # said once
        assert sh.var("KCTX_TIER") == "prod" and sh.var("KUBECONFIG") == sh.var("__kctx_session")
        r = sh.run("./deploy-staging.sh")
        assert r.status != 0 and "kctx: dev is protected" in r.output.replace("\n", ""), r.output
        assert writes(api) == []
        # the tier changed back from another process: the next prompt takes the guard away
        assert run_kctx("tier", "dev", "dev").returncode == 0
        r = sh.run("true")
        assert "guarded" not in r.segment and sh.var("KCTX_TIER") == "dev", r.segment
        assert "kctx: this shell is no longer guarded (dev is not protected any more)" in r.output
        assert "guarded" not in sh.run("true").output  # said once
        assert wait_for(lambda: guard_pids() == [])
        # the configuration protects the tier: guarded again at the next prompt
        cfg = Path(paths.config_file())
        cfg.write_text(cfg.read_text() + "tiers:\n  dev: {protected: true}\n")
        touch_later(cfg)
        r = sh.run("true")
        assert r.segment.endswith(" guarded "), r.segment
        r = sh.run("./deploy-staging.sh")
        assert r.status != 0 and writes(api) == []
        # nothing changed: the next prompt runs no kctx (the stamp stays as it is)
        stamp = Path(sh.var("__kctx_session") + paths.TIERS_STAMP)
        before = stamp.stat().st_mtime_ns
        sh.run("true")
        assert stamp.stat().st_mtime_ns == before
        # the entry removed from the store: the prompt says so, and its guard still refuses
        assert run_kctx("rm", "dev").returncode == 0
        r = sh.run("true")
        assert "entry dev removed" in r.segment, r.segment
        r = sh.run("./deploy-staging.sh")
        assert r.status != 0 and writes(api) == []
    assert wait_for(lambda: guard_pids() == [])


def test_an_open_shell_is_guarded_once_a_protected_entry_is_imported_at_its_server(tmp_path, fake_api, kubectl_bin,
                                                                                   run_kctx):
    """The same cluster under another entry: `kctx import --tier prod` of a context at this shell's
    server (under another spelling of its address) makes it protected for `k` and for the API guard."""
    from fakeapi import write_kubeconfig

    g = setup_guarded(tmp_path, fake_api, kubectl_bin)
    api = g.servers["dev"]
    env = {**os.environ, "KCTX_KUBECTL": kubectl_bin}
    with PtyShell("bash", env=env, cwd=str(tmp_path)) as sh:
        assert sh.run("kctx use dev -n web").status == 0
        assert sh.run("kctx ns other").status == 0
        other = tmp_path / "kubeconfigs" / "admin.yaml"
        write_kubeconfig(other, [{"name": "dev-admin", "server": api.url.replace("127.0.0.1", "localhost")}])
        r = run_kctx("import", str(other), "--tier", "prod")
        assert r.returncode == 0, r.stderr
        r = sh.run("true")
        assert r.segment == "⎈ dev:other guarded ", r.segment  # the namespace chosen stays
        assert "this shell is guarded now (its server is at the address of the protected entry dev-admin" in r.output
        r = sh.run(f"{kubectl_bin} delete pod web-2")
        assert r.status != 0 and "kctx: dev is protected" in r.output.replace("\n", ""), r.output
        assert writes(api) == []
        assert sh.run("kubectl get pods").status == 0
        # the entry renamed in this shell: the prompt says so, and the guard still refuses writes
        r = sh.run("kctx rename dev dev2")
        assert r.status == 0 and "run 'kctx use dev2'" in r.output
        assert "entry dev removed" in r.segment, r.segment
        assert sh.run(f"{kubectl_bin} delete pod web-2").status != 0 and writes(api) == []
        r = sh.run("kctx use dev2")
        assert r.segment == "⎈ dev2:web guarded ", r.segment
