"""The corpus test: every example of real kubectl's `--help` texts, through `k`, against a
protected entry, without a terminal. The recording fake API server must see no persisting
write and no exec/attach/port-forward/proxy stream; the read-only examples must pass. Then with
KCTX_CONFIRM the changes reach the server as they do without `k`.

The examples and the rules that turn them into command lines are in kubectl_examples.py. Which
examples are reads is decided here from the issue's list, not by kctx's own table.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPIServer, write_kubeconfig
from guard_support import K, persisting
from kubectl_examples import Example, corpus

from kctx.errors import GUARD_ABORTED, GUARD_REFUSED
from kctx.guard import kubectl_help

WORKERS = 8
TIMEOUT = 12  # seconds per example: watches, proxies and waits are cut off
# What the issue lists as reads, by command path; a path listed covers its subcommands.
SPEC_READS = {
    "get", "describe", "logs", "top", "explain", "events", "wait", "diff", "api-resources",
    "api-versions", "cluster-info", "version", "auth can-i", "auth whoami", "rollout status",
    "rollout history", "kustomize", "completion", "config", "plugin list", "options", "help",
    "apply view-last-applied",
    "kuberc",  # like config: kubectl's local preferences file, never a cluster
}


def spec_read(ex: Example) -> bool:
    """A read by the issue's rules (examples put the command words first)."""
    argv = ex.argv[: ex.argv.index("--")] if "--" in ex.argv else ex.argv
    words = [a for a in argv[:3] if not a.startswith("-")]
    if words[:1] and (words[0] in SPEC_READS or " ".join(words[:2]) in SPEC_READS):
        return True
    if any(a in ("--dry-run=client", "--dry-run=server", "--help", "-h") for a in argv):
        return True
    if words[:1] and words[0] in ("label", "annotate") and "--list" in argv:
        return True
    return "--local" in argv  # kctx's addition: --local never contacts the server


@dataclass
class Run:
    rc: int
    ran: bool  # kubectl was started
    writes: list[str] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)
    stderr: str = ""


@dataclass
class Worker:
    entry: str
    server: FakeAPIServer


class Corpus:
    def __init__(self, root: Path, kubectl: str, workers: list[Worker]) -> None:
        self.root = root
        self.kubectl = kubectl
        self.workers = workers
        self.wrapper = root / "bin" / "kubectl"  # records that it ran, then runs the real one
        self.wrapper.parent.mkdir()
        self.wrapper.write_text(f'#!/bin/sh\n: > "$RAN_LOG"\nexec {kubectl} "$@"\n')
        self.wrapper.chmod(0o755)

    def run(self, i: int, ex: Example, worker: Worker, mode: str) -> Run:
        """mode: "k" (no terminal), "confirm" (k with KCTX_CONFIRM) or "direct" (kubectl only)."""
        from kctx import paths, session

        cwd = self.root / f"{mode}-{i}"
        cwd.mkdir()
        for folder in ex.folders:
            (cwd / folder).mkdir(parents=True, exist_ok=True)
        for rel, text in ex.files.items():
            (cwd / rel).parent.mkdir(parents=True, exist_ok=True)
            (cwd / rel).write_text(text)
        rec = session.entry_record(worker.entry) or {}
        spath = session.new_path(os.getpid())
        session.write(spath, session.render(worker.entry, rec.get("cluster", worker.entry),
                                            rec.get("user", worker.entry), rec.get("namespace")))
        env = dict(os.environ)
        env.update(KUBECONFIG=f"{spath}{os.pathsep}{paths.entry_file(worker.entry)}",
                   KCTX_KUBECTL=str(self.wrapper), RAN_LOG=str(cwd / ".ran"), NO_COLOR="1")
        if mode == "confirm":
            env["KCTX_CONFIRM"] = worker.entry
        argv = ["--request-timeout=5s", *ex.argv]
        cmd = [K, *argv] if mode != "direct" else [str(self.wrapper), *argv]
        worker.server.clear()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE if ex.stdin else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, err = proc.communicate(ex.stdin, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
        time.sleep(0.05)  # a request still in flight when kubectl was killed
        reqs = list(worker.server.requests)
        return Run(proc.returncode, (cwd / ".ran").exists(), [str(r) for r in reqs if persisting(r)],
                   [str(r) for r in reqs if r.is_stream], err.decode("utf-8", "replace")[-600:])

    def run_all(self, examples: list[Example], mode: str) -> list[Run]:
        chunks = [list(range(w, len(examples), len(self.workers))) for w in range(len(self.workers))]
        results: dict[int, Run] = {}

        def work(w: int) -> None:
            for i in chunks[w]:
                results[i] = self.run(i, examples[i], self.workers[w], mode)

        with ThreadPoolExecutor(len(self.workers)) as pool:
            list(pool.map(work, range(len(self.workers))))
        return [results[i] for i in range(len(examples))]


@pytest.fixture(scope="module")
def kubectl_tree(kubectl_bin: str) -> dict[tuple[str, ...], Any]:
    return kubectl_help.walk(kubectl_bin)


def test_command_table_is_kubectls(kubectl_tree: dict[tuple[str, ...], Any], kubectl_bin: str) -> None:
    """cmdtree.py is what the installed kubectl says (regenerate: python -m kctx.guard.kubectl_help)."""
    from kctx.guard import cmdtree

    version = kubectl_help.version_of(kubectl_bin)
    if version != cmdtree.VERSION:
        pytest.skip(f"cmdtree.py is from kubectl {cmdtree.VERSION}, this is {version}")
    fresh = kubectl_help.render_cmdtree(kubectl_tree, version)
    namespace: dict[str, Any] = {}
    exec(compile(fresh, "fresh", "exec"), namespace)  # noqa: S102 - our own generated table
    assert namespace["SUBCOMMANDS"] == cmdtree.SUBCOMMANDS
    assert namespace["SHORTS"] == cmdtree.SHORTS
    # The walk here does not probe optional values (slow): committed "name?" counts as a value.
    committed = {lvl: s.replace("?", "") for lvl, s in cmdtree.NOVALUE.items()}
    for level, names in namespace["NOVALUE"].items():
        optional = {n[:-1] for n in cmdtree.NOVALUE[level].split() if n.endswith("?")}
        assert set(names.split()) | optional == set(committed[level].split()), level
    for level, names in namespace["VALUE"].items():
        optional = {n[:-1] for n in cmdtree.NOVALUE[level].split() if n.endswith("?")}
        assert set(names.split()) == set(cmdtree.VALUE[level].split()) | optional, level


def test_corpus(kubectl_tree: dict[tuple[str, ...], Any], kubectl_bin: str, fake_api: Any, tmp_path: Path) -> None:
    from kctx import store

    examples, skipped = corpus(kubectl_tree)
    assert len(examples) > 300, "kubectl's help gave fewer examples than expected"
    assert len(skipped) < 40, [s.source for s in skipped]

    workers = [Worker(f"prod{w}", fake_api(name=f"prod{w}")) for w in range(WORKERS)]
    kc = tmp_path / "source"
    write_kubeconfig(kc, [{"name": w.entry, "server": w.server, "namespace": "payments"} for w in workers])
    s = store.Store()
    s.import_files([str(kc)])
    for w in workers:
        s.set_tier(w.entry, "prod", ["prod", "staging", "dev", "none"])
    (tmp_path / "corpus").mkdir()
    c = Corpus(tmp_path / "corpus", kubectl_bin, workers)

    # 1. No terminal, no KCTX_CONFIRM: nothing may reach the cluster but reads.
    guarded = c.run_all(examples, "k")
    leaks = [(ex.name, r.writes, r.streams) for ex, r in zip(examples, guarded) if r.writes or r.streams]
    assert leaks == [], leaks
    blocked_reads = [(ex.name, r.rc, r.stderr) for ex, r in zip(examples, guarded)
                     if spec_read(ex) and (r.rc in (GUARD_REFUSED, GUARD_ABORTED) or not r.ran)]
    assert blocked_reads == [], blocked_reads
    not_refused = [(ex.name, r.rc, r.ran) for ex, r in zip(examples, guarded)
                   if not spec_read(ex) and (r.rc != GUARD_REFUSED or r.ran or "KCTX_CONFIRM=prod" not in r.stderr)]
    assert not_refused == [], not_refused

    # 2. The changes, confirmed with KCTX_CONFIRM, reach the server as they do without k.
    changes = [ex for ex in examples if not spec_read(ex)]
    direct = c.run_all(changes, "direct")
    confirmed = c.run_all(changes, "confirm")
    not_run = [(ex.name, r.rc, r.stderr) for ex, r in zip(changes, confirmed)
               if r.rc in (GUARD_REFUSED, GUARD_ABORTED) or not r.ran]
    assert not_run == [], not_run
    lost = [(ex.name, d.writes + d.streams, r.rc, r.stderr) for ex, d, r in zip(changes, direct, confirmed)
            if (d.writes or d.streams) and not (r.writes or r.streams)]
    assert lost == [], lost
    wrote = sum(1 for r in confirmed if r.writes or r.streams)
    assert wrote > len(changes) // 2, f"only {wrote} of {len(changes)} changes reached the server"
    print(f"\ncorpus: {len(examples)} examples ({len(skipped)} lines skipped), "
          f"{len(examples) - len(changes)} reads passed, {len(changes)} changes refused, "
          f"{wrote} of them wrote once confirmed")


def test_the_shell_fast_path_takes_reads_only(kubectl_tree: dict[tuple[str, ...], Any], tmp_path: Path) -> None:
    """No example that the issue counts as a change is run by the fast path of the shell's `k` function."""
    from test_guard_fast import decide, write_note

    from kctx import paths
    from kctx.guard.fast import read_words

    examples, _ = corpus(kubectl_tree)
    os.makedirs(paths.sessions_dir(), mode=0o700)
    session = os.path.join(paths.sessions_dir(), "1-abcdef.json")
    Path(session).write_text("{}")
    write_note(session, "/bin/true", reads=" ".join(read_words(None)))
    env = {**os.environ, "KUBECONFIG": session}
    for key in ("KCTX_KUBECTL", "KCTX_IN_K", "KCTX_NO_FAST"):
        env.pop(key, None)

    with ThreadPoolExecutor(8) as pool:
        decisions = list(pool.map(lambda ex: decide(ex.argv, env), examples))
    wrong = [ex.name for ex, d in zip(examples, decisions) if d == "FAST" and not spec_read(ex)]
    assert wrong == []
    fast = sum(d == "FAST" for d in decisions)
    assert fast > 60, f"only {fast} examples take the fast path"
