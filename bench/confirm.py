"""Benchmark: what `kctx confirm` adds to the command it runs, on the paths that wait for nobody.

A plain install of this checkout (benchlib.installed_bin), its own store with a protected entry
(prod, tier prod, fronted by the API guard) and an unprotected one (dev), each on its own local
fake API server (tests/fakeapi, TLS on 127.0.0.1), and a kctx shell's environment after
`kctx use` of each. Alternating in the same run, timed as whole commands:

  true                              the baseline: the command run directly
  python -c pass                    the install's interpreter starting and exiting, for reference
  kctx confirm true                 dev: nothing to ask, kctx hands over to the command
  kctx confirm -- true              the same through the click app (what the fast path saves)
  KCTX_CONFIRM=prod kctx confirm true   prod, as a script confirms: decides, audits, goes
                                    around the guard, hands over

A path that asks a person has no millisecond budget; these are what a user who wraps helm in
`kctx confirm` pays on every run.

    python bench/confirm.py [--runs 40]
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

import argparse
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.append(HERE)
from apiguard_support import shell_vars
from benchlib import installed_bin, prod_and_dev_store, real_kubectl, use


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    elapsed = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode()[-800:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    kctx = str(installed_bin() / "kctx")
    kubectl = real_kubectl()
    true = "/bin/true"
    from fakeapi import FakeAPIServer

    shell = subprocess.Popen(["sleep", "3600"])  # stands in for the shell the guard watches
    with tempfile.TemporaryDirectory() as tmp, FakeAPIServer("v1.37.1", False, "prod") as prod, \
            FakeAPIServer("v1.37.1", False, "dev") as dev:
        env = prod_and_dev_store(tmp, kctx, kubectl, prod, dev)

        def shell_env(name: str) -> dict[str, str]:
            return dict(env, KUBECONFIG=shell_vars(use(kctx, env, name, shell.pid))["KUBECONFIG"])

        on_dev = shell_env("dev")
        on_prod = dict(shell_env("prod"), KCTX_CONFIRM="prod")
        cases = {
            "true": ([true], on_dev),
            "python -c pass (the interpreter alone)": ([str(installed_bin() / "python"), "-c", "pass"], on_dev),
            "kctx confirm true (dev)": ([kctx, "confirm", true], on_dev),
            "kctx confirm -- true (dev, click)": ([kctx, "confirm", "--", true], on_dev),
            "KCTX_CONFIRM=prod kctx confirm true": ([kctx, "confirm", true], on_prod),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for cmd, e in cases.values():
            for _ in range(3):
                timed(cmd, e)
        names = list(cases)
        for i in range(args.runs):
            for name in names[i % len(names):] + names[:i % len(names)]:
                cmd, e = cases[name]
                times[name].append(timed(cmd, e))
    shell.kill()
    base = statistics.median(times["true"])
    print(f"kctx confirm, {args.runs} runs each, alternating; medians")
    print(f"{'command':40} {'median':>9} {'added':>9}")
    for name in names:
        m = statistics.median(times[name])
        print(f"{name:40} {m:7.1f}ms {m - base:+7.1f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
