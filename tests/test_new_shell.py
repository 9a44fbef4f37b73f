"""What a new shell targets: nothing of kctx's by default; with `shell.start: last`, the entry and
namespace last chosen in any shell, never a protected one (real bash, zsh, fish and nu)."""

from __future__ import annotations

import os

import pytest
from conftest import Sandbox
from pty_shell import SHELLS, PtyShell, init_line

from kctx import paths


@pytest.fixture
def entries(fake_api, kubeconfig, run_kctx):
    src = kubeconfig([{"name": "dev", "server": fake_api(name="dev"), "namespace": "apps"},
                      {"name": "prod", "server": fake_api(name="prod"), "namespace": "payments"}])
    run_kctx("import", str(src), check=True)


def start_last() -> None:
    Sandbox.write_config("shell:\n  start: last\n")


def test_by_default_a_new_shell_starts_on_nothing_of_kctx(entries):
    with PtyShell("bash") as a:
        a.run("kctx use dev")
    with PtyShell("bash") as b:
        assert b.var("KCTX_CONTEXT") == "" and "⎈" not in b.run("true").segment
    assert not os.path.exists(paths.last_target_file())


@pytest.mark.parametrize("shell", SHELLS)
def test_start_last_follows_the_last_choice_but_never_onto_a_protected_entry(entries, shell):
    start_last()
    with PtyShell(shell) as a:
        assert a.var("KCTX_CONTEXT") == ""  # nothing chosen yet
        a.run("kctx use dev")
        a.run("kctx ns team-x")
    with PtyShell(shell) as b:
        assert b.var("KCTX_CONTEXT") == "dev" and b.var("KCTX_NAMESPACE") == "team-x"
        assert "⎈ dev:team-x" in b.run("true").segment
        session = b.var("__kctx_session")
        assert os.path.exists(session)  # a session of its own
        b.run("kctx use prod")
    if shell != "nu":  # nu has no exit hook: the sweep removes its sessions later
        assert not os.path.exists(session)  # removed when that shell exited
    with PtyShell(shell) as c:
        assert c.var("KCTX_CONTEXT") == ""
        r = c.run("true")
        assert "⎈" not in r.segment
        c.run("kctx use dev")
        c.run("kctx off")
    with PtyShell(shell, init=None) as d:
        r = d.run(init_line(shell))
        assert r.status == 0 and "does not start" not in r.output
        assert d.var("KCTX_CONTEXT") == ""


def test_a_protected_last_choice_is_said_once_at_start(entries):
    start_last()
    with PtyShell("bash") as a:
        a.run("kctx use prod")
    with PtyShell("bash", init=None) as b:
        r = b.run(init_line("bash"))
        assert r.output.strip() == ("kctx: a new shell does not start on prod, the last entry chosen: it is "
                                    "protected (kctx use prod)")
        assert b.var("KCTX_CONTEXT") == ""
        assert "⎈" not in b.run("true").segment


def test_a_bad_start_setting_is_one_line(run_kctx):
    Sandbox.write_config("shell:\n  start: sometimes\n")
    r = run_kctx("list")
    assert r.returncode == 1
    assert r.stderr.strip().endswith("shell.start: expected one of none, last (see 'Configuration' in the README)")
