"""The shell fast path of `k`: reads in a kctx shell run kubectl without starting Python, from
the note "<session>.k" the Python side writes; anything else, or a stale note, goes to Python."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from guard_support import Guarded, K, guarded_fixture  # noqa: F401 - the fixture

from kctx.guard import fast

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "k"


def k_fast_function(exec_line: str = 'echo FAST; return 0') -> str:
    """The shell function of scripts/k, with its exec replaced (and no 1-in-16 detour)."""
    text = SCRIPT.read_text()
    body = text[text.index("k_fast() {"):text.index('\nk_fast "$@"')]
    assert 'exec "$x" "$@"' in body and "[ $(($$ % 16)) -ne 0 ] || return 1" in body
    return body.replace('exec "$x" "$@"', exec_line).replace("[ $(($$ % 16)) -ne 0 ] || return 1", ":")


def decide(argv: list[str], env: dict[str, str]) -> str:
    """"FAST" or "SLOW": what scripts/k's shell line does with `argv`."""
    proc = subprocess.run(["/bin/sh", "-c", k_fast_function() + '\nk_fast "$@" || echo SLOW', "k", *argv],
                          env=env, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def write_note(session: str, kubectl: str, reads: str = "get describe logs version", deps: tuple[str, ...] = ()) -> Path:
    note = Path(session + ".k")
    note.write_text("\n".join([fast.MAGIC, kubectl, reads, *deps]) + "\n")
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
    reads = lines[2].split()
    assert {"get", "describe", "logs", "config", "version", "__complete"} <= set(reads)
    assert not {"delete", "apply", "exec", "port-forward", "top", "rollout", "create"} & set(reads)
    assert g.entry_file("prod") in lines[3:] and lines[1] in lines[3:]
    assert stat.S_IMODE(note.stat().st_mode) == 0o600
    note.unlink()
    for argv in (["delete", "pod", "x"], ["--context", "dev", "get", "pods"], ["get", "pods", "-s", "https://x"]):
        subprocess.run([K, *argv], env={**env, "KCTX_NO_FAST": "1"}, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL, start_new_session=True, check=False)
        assert not note.exists(), argv


def test_reads_skip_python(shell: tuple[Guarded, dict[str, str], Path], tmp_path: Path) -> None:
    g, env, wrapper = shell
    session = env["KUBECONFIG"].split(os.pathsep)[0]
    fast_runs = 0
    for _ in range(8):
        write_note(session, str(wrapper))
        proc = subprocess.run([K, "-n", "kube-system", "get", "pods"], env=env, capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, check=False)
        assert proc.returncode == 0, proc.stderr
        fast_runs = len((tmp_path / "fast-ran").read_text().splitlines()) if (tmp_path / "fast-ran").exists() else 0
    assert fast_runs >= 4  # 1 run in 16 goes through Python on purpose
    assert set((tmp_path / "fast-ran").read_text().split()) == {"1"}  # KCTX_IN_K for nested k
    assert any("/namespaces/kube-system/pods" in r.path for r in g.servers["prod"].requests)


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
    assert decide(argv, env) == "SLOW"


@pytest.mark.parametrize("argv", [["get", "pods"], ["-n", "x", "get", "pods"], ["-nx", "logs", "-f", "web"],
                                  ["--namespace=x", "describe", "pod", "y"], ["--request-timeout", "5s", "version"],
                                  ["-v", "6", "get", "pods", "-o", "yaml", "-A"]])
def test_what_the_shell_runs(shell: tuple[Guarded, dict[str, str], Path], argv: list[str]) -> None:
    _, env, wrapper = shell
    write_note(env["KUBECONFIG"].split(os.pathsep)[0], str(wrapper))
    assert decide(argv, env) == "FAST"


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
    note.write_text("something else\n" + str(wrapper) + "\nget\n")
    os.utime(note, (later + 5, later + 5))
    assert decide(["get", "pods"], env) == "SLOW"
