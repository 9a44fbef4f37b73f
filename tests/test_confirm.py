"""`kctx confirm COMMAND`: one command that is not kubectl (helm, a script, a client library)
writes to this shell's protected entry once its name is typed on the terminal, and only that
command (helm#8981, kubesafe).

Real parts: the real kubectl and `k`, the official Python client, recording fake API servers
over TLS, the API guard with its kubectl proxy, a pexpect terminal, and real bash, zsh, fish
and nu kctx shells.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from apiguard_support import VENV_BIN, Shell
from guard_support import Guarded, deploy_script, guarded_fixture, writes  # noqa: F401 - the fixture
from pty_shell import SHELLS, PtyShell

from kctx.errors import GUARD_ABORTED, GUARD_REFUSED, INTERRUPTED

KCTX = str(VENV_BIN / "kctx")

# The second real client: the official Python client deletes a pod, as a deploy script would.
DELETE = (
    "import sys\n"
    "from kubernetes import client, config\n"
    "config.load_kube_config()\n"
    "try:\n"
    "    client.CoreV1Api().delete_namespaced_pod(sys.argv[1], 'payments', _preload_content=False)\n"
    "except client.ApiException as e:\n"
    "    print(e.status, e.body)\n"
    "    sys.exit(3)\n"
    "print('deleted', sys.argv[1])\n")


@pytest.fixture
def shell(guarded: Guarded, kubectl_bin: str):  # type: ignore[no-untyped-def]
    sh = Shell(kubectl_bin)
    yield sh
    sh.exit()


@pytest.fixture
def deleter(tmp_path: Path) -> Path:
    script = tmp_path / "delete.py"
    script.write_text(DELETE)
    return script


def use(sh: Shell, name: str) -> None:
    r = sh.kctx("use", name)
    assert r.returncode == 0, r.stderr


def spawn(sh: Shell, *argv: str, **env: str) -> pexpect.spawn:
    return pexpect.spawn(KCTX, ["confirm", *argv], env=sh.env(KCTX_KUBECTL=sh.kubectl or "", **env),
                         encoding="utf-8", timeout=60, dimensions=(50, 200))


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0)


def confirm_without_tty(sh: Shell, *argv: str, **env: str) -> subprocess.CompletedProcess:
    """`kctx confirm ARGV` from a script of this shell: no terminal (a new session)."""
    return subprocess.run([KCTX, "confirm", *argv], env=sh.env(**env), capture_output=True, text=True,
                          timeout=60, check=False, stdin=subprocess.DEVNULL, start_new_session=True)


def test_the_confirmed_command_alone_writes(guarded: Guarded, shell: Shell, deleter: Path) -> None:
    use(shell, "prod")
    api = guarded.servers["prod"]
    r = shell.run(sys.executable, str(deleter), "web-2")
    assert r.returncode == 3 and "kctx confirm COMMAND" in r.stdout, r.stdout  # the guard names the way on
    assert writes(api) == []
    child = spawn(shell, sys.executable, str(deleter), "web-2")
    child.expect("type prod to continue")
    banner = child.before
    assert "this command may change a protected target: prod" in banner
    assert f"kctx confirm {sys.executable} {deleter} web-2" in banner
    assert api.url in banner and "payments" in banner and "tier prod" in banner
    assert api.requests == []  # nothing sent while asking
    child.sendline("prod")
    child.expect("deleted web-2")
    assert finish(child) == 0
    assert writes(api) == ["DELETE /api/v1/namespaces/payments/pods/web-2"]
    rec = guarded.audit()[-1]
    assert rec["outcome"] == "confirmed" and rec["argv"][:3] == ["kctx", "confirm", sys.executable]
    assert rec["entry"] == "prod" and rec["tty"] and "tier prod" in rec["reason"]
    # The shell itself stays guarded: the next write without confirm is refused again.
    r = shell.run(sys.executable, str(deleter), "web-3")
    assert r.returncode == 3 and "kctx: prod is protected" in r.stdout
    assert len(writes(api)) == 1


@pytest.mark.parametrize("answer", ["yes", "PROD", "dev", ""])
def test_anything_else_aborts_and_nothing_runs(guarded: Guarded, shell: Shell, deleter: Path, answer: str) -> None:
    use(shell, "prod")
    child = spawn(shell, sys.executable, str(deleter), "web-2")
    child.expect("type prod to continue")
    child.sendline(answer)
    child.expect("aborted: nothing was run")
    assert finish(child) == GUARD_ABORTED
    assert guarded.servers["prod"].requests == []
    assert guarded.audit()[-1]["outcome"] == "aborted"


def test_ctrl_c_at_the_question_runs_nothing(guarded: Guarded, shell: Shell, deleter: Path) -> None:
    use(shell, "prod")
    child = spawn(shell, sys.executable, str(deleter), "web-2")
    child.expect("type prod to continue")
    child.sendintr()
    child.expect("interrupted; nothing was run")
    assert finish(child) == INTERRUPTED
    assert guarded.servers["prod"].requests == []
    assert guarded.audit()[-1]["outcome"] == "interrupted"


def test_questions_on_one_terminal_come_one_at_a_time(guarded: Guarded, shell: Shell, deleter: Path) -> None:
    """Two confirms started together on one terminal (as `kctx exec -P` starts them): the second
    banner waits until the first question is answered, so no answer goes to the wrong one."""
    use(shell, "prod")
    both = (f"{KCTX} confirm {sys.executable} {deleter} web-a & "
            f"{KCTX} confirm {sys.executable} {deleter} web-b & wait")
    child = pexpect.spawn("/bin/sh", ["-c", both], env=shell.env(), encoding="utf-8", timeout=60,
                          dimensions=(50, 200))
    child.expect("type prod to continue")
    with pytest.raises(pexpect.TIMEOUT):
        child.expect("type prod to continue", timeout=1.5)
    child.sendline("prod")
    child.expect("type prod to continue")  # the second question, once the first is answered
    child.sendline("prod")
    assert finish(child) == 0
    assert sorted(writes(guarded.servers["prod"])) == ["DELETE /api/v1/namespaces/payments/pods/web-a",
                                                        "DELETE /api/v1/namespaces/payments/pods/web-b"]


def test_without_a_terminal_kctx_confirm_names_the_entry(guarded: Guarded, shell: Shell, deleter: Path) -> None:
    use(shell, "prod")
    api = guarded.servers["prod"]
    r = confirm_without_tty(shell, sys.executable, str(deleter), "web-2")
    assert r.returncode == GUARD_REFUSED, r.stderr
    assert "no terminal to ask on" in r.stderr and "KCTX_CONFIRM=prod kctx confirm" in r.stderr
    r = confirm_without_tty(shell, sys.executable, str(deleter), "web-2", KCTX_CONFIRM="dev")
    assert r.returncode == GUARD_REFUSED and "KCTX_CONFIRM=dev but this command would change prod" in r.stderr
    assert api.requests == []
    r = confirm_without_tty(shell, sys.executable, str(deleter), "web-2", KCTX_CONFIRM="prod")
    assert r.returncode == 0, r.stdout + r.stderr
    assert writes(api) == ["DELETE /api/v1/namespaces/payments/pods/web-2"]
    assert [x["outcome"] for x in guarded.audit()] == ["refused", "refused", "confirmed-by-env"]


def test_k_and_kubectl_inside_a_confirmed_script(guarded: Guarded, shell: Shell, tmp_path: Path,
                                                  kubectl_bin: str) -> None:
    """A deploy script with `k` and kubectl by path: one question for the whole script."""
    use(shell, "prod")
    api = guarded.servers["prod"]
    script = tmp_path / "deploy.sh"
    script.write_text(f"#!/bin/sh\nset -e\n{VENV_BIN / 'k'} delete pod web-1\n{kubectl_bin} delete pod web-2\n")
    script.chmod(0o755)
    child = spawn(shell, str(script))
    child.expect("type prod to continue")
    child.sendline("prod")
    assert finish(child) == 0, child.before
    assert writes(api) == ["DELETE /api/v1/namespaces/payments/pods/web-1",
                           "DELETE /api/v1/namespaces/payments/pods/web-2"]
    assert [x["outcome"] for x in guarded.audit()] == ["confirmed", "confirmed-by-env"]  # the script's k


def test_an_unlocked_shell_and_an_unprotected_entry_are_not_asked(guarded: Guarded, shell: Shell,
                                                                   deleter: Path) -> None:
    use(shell, "dev")
    r = confirm_without_tty(shell, "sh", "-c", "exit 7")
    assert r.returncode == 7, r.stderr  # the command's own exit code, no question
    r = confirm_without_tty(shell, "--", "sh", "-c", "exit 7")  # through click, not kctx.main's fast path
    assert r.returncode == 7, r.stderr
    use(shell, "prod")
    assert shell.kctx("unlock", "5m").returncode == 0
    r = confirm_without_tty(shell, sys.executable, str(deleter), "web-2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert writes(guarded.servers["prod"]) == ["DELETE /api/v1/namespaces/payments/pods/web-2"]
    assert guarded.audit()[-1]["outcome"] == "unlocked"


def test_bad_input_is_one_line(guarded: Guarded, shell: Shell, tmp_path: Path) -> None:
    r = subprocess.run([KCTX, "confirm", "true"], env={**os.environ, "KUBECONFIG": str(guarded.kubeconfig)},
                       capture_output=True, text=True, check=False)
    assert r.returncode == 1 and r.stderr == (
        "kctx: this shell targets no kctx entry, so there is nothing to confirm "
        "(kctx use NAME first, or: kctx exec NAME -- kctx confirm COMMAND)\n")
    use(shell, "prod")
    r = confirm_without_tty(shell, "no-such-command-kctx", "x")
    assert r.returncode == 127 and r.stderr == "kctx: no-such-command-kctx: command not found\n"
    plain = tmp_path / "$(touch pwned).sh"
    plain.write_text("#!/bin/sh\n")
    r = confirm_without_tty(shell, str(plain))
    assert r.returncode == 126 and r.stderr.count("\n") == 1 and "is not executable" in r.stderr
    assert "'" in r.stderr and not (tmp_path / "pwned").exists()
    r = confirm_without_tty(shell)
    assert r.returncode == 2 and "Missing argument" in r.stderr
    assert guarded.servers["prod"].requests == [] and guarded.audit() == []


def test_kctx_exec_of_a_protected_entry_takes_kctx_confirm(guarded: Guarded, deleter: Path,
                                                           kubectl_bin: str) -> None:
    env = {**os.environ, "KCTX_KUBECTL": kubectl_bin}
    child = pexpect.spawn(KCTX, ["exec", "prod", "--", KCTX, "confirm", sys.executable, str(deleter), "web-5"],
                          env=env, encoding="utf-8", timeout=60)
    child.expect("type prod to continue")
    child.sendline("prod")
    assert finish(child) == 0, child.before
    assert writes(guarded.servers["prod"]) == ["DELETE /api/v1/namespaces/payments/pods/web-5"]


@pytest.mark.parametrize("shell_name", SHELLS)
def test_in_a_real_shell(shell_name: str, guarded: Guarded, tmp_path: Path, kubectl_bin: str) -> None:
    deploy_script(tmp_path, kubectl_bin)
    api = guarded.servers["prod"]
    with PtyShell(shell_name, env={**os.environ, "KCTX_KUBECTL": kubectl_bin}, cwd=str(tmp_path)) as sh:
        assert sh.run("kctx use prod").status == 0
        r = sh.run("./deploy-staging.sh")
        assert r.status != 0 and writes(api) == []
        for answer, status in (("staging", GUARD_ABORTED), ("prod", 0)):
            sh.type_line("kctx confirm ./deploy-staging.sh")
            sh.expect("type prod to continue")
            sh.p.sendline(answer)
            m = sh._wait()
            assert int(m.group(3)) == status, (answer, sh.before)
        assert writes(api) == ["DELETE /api/v1/namespaces/payments/pods/web-2"]
        r = sh.run("./deploy-staging.sh")  # still guarded after the confirmed command
        assert r.status != 0 and len(writes(api)) == 1
