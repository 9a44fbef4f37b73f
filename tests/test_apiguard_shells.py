"""The API guard from real bash, zsh, fish and nu kctx shells: a script's kubectl cannot write
to a protected entry, reads and unlocks work, and the prompt says whether the guard is active
or down."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from apiguard_support import guard_pids, wait_for
from guard_support import deploy_script, setup_guarded, writes
from pty_shell import SHELLS, PtyShell

from kctx.apiguard import state as gstate


@pytest.mark.parametrize("shell", SHELLS)
def test_a_script_in_a_protected_shell_cannot_write(shell, tmp_path, fake_api, kubectl_bin):
    g = setup_guarded(tmp_path, fake_api, kubectl_bin)
    api = g.servers["prod"]
    deploy_script(tmp_path)
    env = {**os.environ, "KCTX_KUBECTL": kubectl_bin}
    with PtyShell(shell, env=env, cwd=str(tmp_path)) as sh:
        r = sh.run("kctx use prod")
        assert r.status == 0, r.output
        assert r.segment == "⎈ prod:payments guarded ", r.segment  # the guard is up
        session = sh.var("__kctx_session")
        assert sh.var("KUBECONFIG") == session
        r = sh.run("./deploy-staging.sh")
        assert r.status != 0 and "kctx: prod is protected" in r.output.replace("\n", "")
        assert writes(api) == []
        r = sh.run("kubectl get pods")
        assert r.status == 0, r.output
        r = sh.run("kubectl logs -f web-1")
        assert r.status == 0 and "log line from web-1" in r.output
        r = sh.run("kubectl auth can-i delete pods")
        assert r.status == 0 and "yes" in r.output
        assert sh.run("kctx unlock 5m").status == 0
        assert sh.run("./deploy-staging.sh").status == 0
        assert writes(api) == ["DELETE /api/v1/namespaces/payments/pods/web-2"]
        assert sh.run("kctx lock").status == 0
        r = sh.run("./deploy-staging.sh")
        assert r.status != 0 and len(writes(api)) == 1
        r = sh.run("kctx current")
        assert r.status == 0 and "API guard of this shell is active" in r.output
        # The guard killed: the prompt says so, clients fail, the next kctx brings it back.
        assert "guard down" not in r.segment and r.segment.endswith(" guarded ")
        os.kill(gstate.read_state(session)["pid"], signal.SIGKILL)
        assert wait_for(lambda: not gstate.alive(gstate.read_state(session)))
        r = sh.run("true")
        assert "guard down" in r.segment and "guarded" not in r.segment
        assert sh.run("./deploy-staging.sh").status != 0 and len(writes(api)) == 1
        r = sh.run("kctx current")
        assert r.status == 0 and "restarted" in r.output
        r = sh.run("true")
        assert r.segment == "⎈ prod:payments guarded ", r.segment
        # Switched to an unprotected entry: no guard, no marker.
        r = sh.run("kctx use dev")
        assert r.status == 0 and "guard" not in r.segment, r.segment
    assert wait_for(lambda: guard_pids() == [])
    assert not Path(session + ".token").exists()
