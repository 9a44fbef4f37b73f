"""The fast path of the shell integration's `k`: reads in a kctx shell run kubectl without
starting Python, from the note "<session>.k" the Python side writes; anything else, a stale or
expired note, goes to Python. The rules come from kctx.guard.fast (the flag table and the verb
table), and bash, zsh, fish and nushell decide alike."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from guard_support import Guarded, K, guarded_fixture  # noqa: F401 - the fixture

from kctx.guard import fast

SHELLS = ("bash", "zsh", "fish", "nu")


def k_code(shell: str = "bash") -> str:
    """The integration's `k` function and its fast path, as `kctx init` prints them."""
    from kctx.commands import init

    return init._k_code(init.dialect_of(shell))


def decide(argv: list[str], env: dict[str, str], shell: str = "bash") -> str:
    """"FAST" or "SLOW": what the integration's `k` does with `argv`."""
    if shutil.which(shell) is None:
        if os.environ.get("KCTX_REQUIRE_SHELLS"):
            pytest.fail(f"{shell} is not installed")
        pytest.skip(f"{shell} is not installed")
    if shell == "fish":
        script = k_code("fish") + "\nif __kctx_k_fast $argv >/dev/null; echo FAST; else; echo SLOW; end\n"
        cmd = ["fish", "--no-config", "-c", script, "--", *argv]
    elif shell == "nu":
        from kctx.commands import init

        words = init.dialect_of("nu").words(argv)
        script = k_code("nu") + f"\nprint (if (__kctx_k_fast {words}) != '' {{ 'FAST' }} else {{ 'SLOW' }})\n"
        cmd = ["nu", "-n", "--no-history", "-c", script]
    else:
        script = k_code(shell) + '\nif __kctx_k_fast "$@"; then echo FAST; else echo SLOW; fi\n'
        cmd = [shell, "-f" if shell == "zsh" else "--norc", "-c", script, "k", *argv]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    return proc.stdout.strip()


def write_note(session: str, kubectl: str, reads: str = "get describe logs version", deps: tuple[str, ...] = (),
               until: float | None = None) -> Path:
    note = Path(session + ".k")
    until = time.time() + 60 if until is None else until
    note.write_text("\n".join([fast.MAGIC, kubectl, str(int(until)), reads, *deps]) + "\n")
    note.chmod(0o600)
    future = time.time() + 5  # strictly newer than the session file and the dependencies
    os.utime(note, (future, future))
    return note


@pytest.fixture
def shell(guarded: Guarded, tmp_path: Path) -> tuple[Guarded, dict[str, str], Path]:
    env = guarded.env("prod", KCTX_KUBECTL=None, KCTX_KUBECTL_MIRROR=f"file://{tmp_path}/no-mirror")
    marker = tmp_path / "fast-ran"
    wrapper = tmp_path / "bin" / "kubectl"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$KCTX_IN_K" >> {marker}\nexec {guarded.kubectl} "$@"\n')
    wrapper.chmod(0o755)
    return guarded, env, wrapper


def test_python_writes_the_note_after_a_read(shell: tuple[Guarded, dict[str, str], Path]) -> None:
    g, env, _ = shell
    session = env["KUBECONFIG"].split(os.pathsep)[0]
    proc = subprocess.run([K, "get", "pods"], env={**env, "KCTX_NO_FAST": "1"}, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr
    note = Path(session + ".k")
    lines = note.read_text().splitlines()
    assert lines[0] == fast.MAGIC and os.access(lines[1], os.X_OK)
    assert 0 < int(lines[2]) - time.time() <= fast.LIFETIME  # trusted for LIFETIME seconds at most
    reads = lines[3].split()
    assert {"get", "describe", "logs", "config", "version", "__complete"} <= set(reads)
    assert not {"delete", "apply", "exec", "port-forward", "top", "rollout", "create"} & set(reads)
    assert g.entry_file("prod") in lines[4:] and lines[1] in lines[4:]
    assert stat.S_IMODE(note.stat().st_mode) == 0o600
    note.unlink()
    for argv in (["delete", "pod", "x"], ["--context", "dev", "get", "pods"], ["get", "pods", "-s", "https://x"]):
        subprocess.run([K, *argv], env={**env, "KCTX_NO_FAST": "1"}, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL, start_new_session=True, check=False)
        assert not note.exists(), argv


@pytest.mark.parametrize("shell_name", SHELLS)
def test_reads_skip_python(shell: tuple[Guarded, dict[str, str], Path], tmp_path: Path, shell_name: str) -> None:
    g, env, wrapper = shell
    if shutil.which(shell_name) is None:
        pytest.skip(f"{shell_name} is not installed")
    session = env["KUBECONFIG"].split(os.pathsep)[0]
    write_note(session, str(wrapper))
    loop = {"bash": 'for i in 1 2 3 4 5 6; do k -n kube-system get pods || exit; done',
            "zsh": 'for i in 1 2 3 4 5 6; do k -n kube-system get pods || exit; done',
            "fish": 'for i in 1 2 3 4 5 6; k -n kube-system get pods; or exit 1; end',
            "nu": 'for i in 1..6 { k -n kube-system get pods; if $env.LAST_EXIT_CODE != 0 { exit 1 } }'}[shell_name]
    cmd = ([shell_name, "--no-config", "-c"] if shell_name == "fish" else ["nu", "-n", "--no-history", "-c"]
           if shell_name == "nu" else [shell_name, "-f" if shell_name == "zsh" else "--norc", "-c"])
    proc = subprocess.run([*cmd, k_code(shell_name) + "\n" + loop], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr
    ran = (tmp_path / "fast-ran").read_text().split()
    assert ran == ["1"] * 6  # every read, none through Python (deterministic); KCTX_IN_K for a nested k
    assert any("/namespaces/kube-system/pods" in r.path for r in g.servers["prod"].requests)


def test_the_guard_through_the_function(shell: tuple[Guarded, dict[str, str], Path], tmp_path: Path) -> None:
    """Not a plain read: the function starts the guard (its Python, -I -S), which refuses a change
    to prod without a terminal and writes the note after a read; no .pth file runs."""
    g, env, wrapper = shell
    session = env["KUBECONFIG"].split(os.pathsep)[0]
    script = k_code("bash") + "\nk delete pod x; echo \"rc=$?\"; k get pods >/dev/null; echo \"rc=$?\"\n"
    env = {**env, "PYTHONSTARTUP": "", "PATH": f"{wrapper.parent}{os.pathsep}{env['PATH']}"}
    proc = subprocess.run(["bash", "--norc", "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, start_new_session=True, check=False)
    assert "rc=4\nrc=0" in proc.stdout, proc.stdout + proc.stderr
    assert "KCTX_CONFIRM=prod" in proc.stderr
    assert g.writes("prod") == []
    assert Path(session + ".k").read_text().startswith(fast.MAGIC + "\n")


@pytest.mark.parametrize("argv", [
    ["delete", "pod", "x"],
    ["-n", "get", "delete", "pod", "x"],
    ["--namespace", "get", "delete", "pod", "x"],
    ["-A", "get", "pods"],  # a flag the shell does not know before the command
    ["--insecure-skip-tls-verify", "get", "pods"],
    ["--context=dev", "get", "pods"],
    ["get", "pods", "--context", "dev"],
    ["get", "pods", "--kubeconfig=/x"],
    ["get", "pods", "-s", "https://h"],
    ["get", "pods", "--server=https://h"],
    ["get", "pods", "--cluster", "c"],
    ["top", "pod"],
    ["rollout", "status", "deploy/x"],
    ["exec", "x", "--", "get"],
    ["--", "get"],
    [],
    ["-h"],
])
def test_what_the_shell_leaves_to_python(shell: tuple[Guarded, dict[str, str], Path], argv: list[str]) -> None:
    _, env, wrapper = shell
    write_note(env["KUBECONFIG"].split(os.pathsep)[0], str(wrapper))
    assert [decide(argv, env, sh) for sh in SHELLS] == ["SLOW"] * len(SHELLS)


@pytest.mark.parametrize("argv", [["get", "pods"], ["-n", "x", "get", "pods"], ["-nx", "logs", "-f", "web"],
                                  ["--namespace=x", "describe", "pod", "y"], ["--request-timeout", "5s", "version"],
                                  ["-v", "6", "get", "pods", "-o", "yaml", "-A"]])
def test_what_the_shell_runs(shell: tuple[Guarded, dict[str, str], Path], argv: list[str]) -> None:
    _, env, wrapper = shell
    write_note(env["KUBECONFIG"].split(os.pathsep)[0], str(wrapper))
    assert [decide(argv, env, sh) for sh in SHELLS] == ["FAST"] * len(SHELLS)


def test_stale_or_foreign_notes_are_ignored(shell: tuple[Guarded, dict[str, str], Path], tmp_path: Path) -> None:
    g, env, wrapper = shell
    session = env["KUBECONFIG"].split(os.pathsep)[0]
    entry = g.entry_file("prod")
    assert decide(["get", "pods"], env) == "SLOW"  # no note yet
    write_note(session, str(wrapper), deps=(entry,))
    assert decide(["get", "pods"], env) == "FAST"
    for extra in ({"KCTX_KUBECTL": str(wrapper)}, {"KCTX_IN_K": "1"}, {"KCTX_NO_FAST": "1"},
                  {"KUBECONFIG": entry}):
        assert decide(["get", "pods"], {**env, **extra}) == "SLOW", extra
    later = time.time() + 10
    os.utime(entry, (later, later))  # the entry file changed after the note (a token refresh)
    assert decide(["get", "pods"], env) == "SLOW"
    write_note(session, str(wrapper), deps=(str(tmp_path / "created-later"),))
    assert decide(["get", "pods"], env) == "FAST"
    (tmp_path / "created-later").write_text("x")
    os.utime(tmp_path / "created-later", (later, later))
    assert decide(["get", "pods"], env) == "SLOW"
    write_note(session, str(wrapper))
    os.utime(session, (later, later))  # kctx use / kctx ns rewrote the session
    assert decide(["get", "pods"], env) == "SLOW"
    note = write_note(session, str(tmp_path / "missing-kubectl"))
    assert decide(["get", "pods"], env) == "SLOW"
    note.write_text("something else\n" + str(wrapper) + f"\n{int(later) + 60}\nget\n")
    os.utime(note, (later + 5, later + 5))
    assert decide(["get", "pods"], env) == "SLOW"


@pytest.mark.parametrize("shell_name", SHELLS)
def test_expired_notes_are_ignored(shell: tuple[Guarded, dict[str, str], Path], shell_name: str) -> None:
    """The freshness rule is a time written in the note, not chance: past it, Python decides."""
    _, env, wrapper = shell
    session = env["KUBECONFIG"].split(os.pathsep)[0]
    write_note(session, str(wrapper), until=time.time() + 30)
    assert decide(["get", "pods"], env, shell_name) == "FAST"
    write_note(session, str(wrapper), until=time.time() - 1)
    assert decide(["get", "pods"], env, shell_name) == "SLOW"
    for bad in ("", "12x", "$(touch /tmp/kctx-pwned)", "a[$(touch /tmp/kctx-pwned)]"):
        note = write_note(session, str(wrapper))
        lines = note.read_text().splitlines()
        lines[2] = bad
        note.write_text("\n".join(lines) + "\n")
        os.utime(note, (time.time() + 5, time.time() + 5))
        assert decide(["get", "pods"], env, shell_name) == "SLOW", bad
    assert not os.path.exists("/tmp/kctx-pwned")


@pytest.mark.parametrize("shell_name", SHELLS)
def test_a_dead_api_guard_goes_through_python(shell: tuple[Guarded, dict[str, str], Path], shell_name: str) -> None:
    """A session the API guard fronts: reads skip Python only while the guard process lives."""
    _, env, wrapper = shell
    session = env["KUBECONFIG"].split(os.pathsep)[0]
    write_note(session, str(wrapper))
    guard = Path(session + ".guard")
    dead = subprocess.Popen(["true"])
    dead.wait()
    for content, want in ((f"{os.getpid()} 12345\n", "FAST"), (f"{dead.pid} 12345\n", "SLOW"),
                          ("x 1\n", "SLOW"), ("", "SLOW")):
        guard.write_text(content)
        assert decide(["get", "pods"], env, shell_name) == want, content
