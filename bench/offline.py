"""Benchmark: k with a broken kubectl mirror (issue 8), against kubectl run directly, same run.

A fake API server (tests/fakeapi, TLS on 127.0.0.1) reports v1.36.4, which is not installed;
the real kubectl 1.37.1 (within the skew policy) is on PATH. For each broken mirror, (a) a
127.0.0.1 port that refuses, (b) one that accepts and never answers, (c) an unresolvable name,
in a fresh store whose server version is known (`kctx kubectl which`, as `kctx use` learns it):

  first    the first `k get pods` (it starts the background download that fails), over kubectl
  next     the median of the next ten `k get pods`, each over a kubectl run just before it

Budgets: first at most 300 ms over kubectl, next at most 10 ms. Then, with the mirror healthy and
a server of PATH's minor (v1.37.0): the number of requests that reach the mirror (must be 0).

    python bench/offline.py [--runs 10] [--kubectl PATH]
"""

from __future__ import annotations

import os
import sys

# bench/ holds a json.py (bench/json.py): keep it from shadowing the standard module.
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]

import argparse
import socket
import statistics
import subprocess
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.append(HERE)
from benchlib import installed_bin, real_kubectl

FIRST_BUDGET, NEXT_BUDGET = 300.0, 10.0


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    ms = (time.perf_counter() - t) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr}")
    return ms


def hanging() -> tuple[str, socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return f"https://127.0.0.1:{sock.getsockname()[1]}", sock


def refused() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"https://127.0.0.1:{port}"


def store(tmp: str, name: str, api: object, bindir: str, kubectl_dir: str, mirror: str) -> dict[str, str]:
    from fakeapi import write_kubeconfig

    home = os.path.join(tmp, name)
    env = {**os.environ, "KCTX_HOME": home, "HOME": home, "KCTX_KUBECTL_MIRROR": mirror,
           "PATH": os.pathsep.join([bindir, kubectl_dir, "/usr/bin", "/bin"])}
    for key in ("KCTX_KUBECTL", "KCTX_IN_K", "KUBECONFIG"):
        env.pop(key, None)
    os.makedirs(home)
    src = os.path.join(tmp, f"{name}.kubeconfig")
    write_kubeconfig(src, [{"name": "lab", "server": api}])
    for args in (["import", src], ["kubectl", "which", "lab"]):
        subprocess.run([os.path.join(bindir, "kctx"), *args], env=env, capture_output=True, check=True)
    env["KUBECONFIG"] = subprocess.run(
        [os.path.join(bindir, "python"), "-c", "from kctx import paths; print(paths.entry_file('lab'))"],
        env=env, capture_output=True, text=True, check=True).stdout.strip()
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--kubectl")
    args = ap.parse_args()
    from fakeapi import FakeAPIServer
    from mirror import KubectlMirror

    kubectl = real_kubectl(args.kubectl)
    bindir = str(installed_bin())
    k = os.path.join(bindir, "k")
    over = True
    with tempfile.TemporaryDirectory() as tmp, FakeAPIServer("v1.36.4", False, "lab") as api:
        kubectl_dir = os.path.join(tmp, "kubectl-bin")
        os.makedirs(kubectl_dir)
        os.symlink(kubectl, os.path.join(kubectl_dir, "kubectl"))
        hang_url, hang_sock = hanging()
        print(f"k: {k}\nkubectl on PATH: {kubectl}\n")
        print(f"{'mirror':<14}{'first k':>10}{'kubectl':>10}{'added':>9}   {'next k':>8}{'kubectl':>9}{'added':>8}")
        worst_first = worst_next = 0.0
        for label, url in (("refused", refused()), ("hanging", hang_url), ("unresolvable", "https://mirror.invalid")):
            env = store(tmp, label, api, bindir, kubectl_dir, url)
            cmd_k, cmd_kubectl = [k, "get", "pods"], [kubectl, "get", "pods"]
            base = timed(cmd_kubectl, env)
            first = timed(cmd_k, env)
            ks, kubectls = [], []
            for _ in range(args.runs):
                kubectls.append(timed(cmd_kubectl, env))
                ks.append(timed(cmd_k, env))
            added_first = first - base
            added_next = statistics.median(ks) - statistics.median(kubectls)
            worst_first, worst_next = max(worst_first, added_first), max(worst_next, added_next)
            print(f"{label:<14}{first:>8.1f}ms{base:>8.1f}ms{added_first:>+7.1f}ms   "
                  f"{statistics.median(ks):>6.1f}ms{statistics.median(kubectls):>7.1f}ms{added_next:>+6.1f}ms")
        hang_sock.close()
        print(f"\nlargest added: first {worst_first:.1f} ms (budget {FIRST_BUDGET:.0f}), "
              f"next {worst_next:.1f} ms (budget {NEXT_BUDGET:.0f})")
        over = worst_first > FIRST_BUDGET or worst_next > NEXT_BUDGET

        # Healthy mirror, a server of PATH's minor: nothing may reach the mirror.
        from fakeapi.tls import session_ca

        with FakeAPIServer("v1.37.0", False, "same") as same, \
                KubectlMirror(os.path.join(tmp, "mirror"), session_ca()) as m:
            m.add_version("1.37.0", kubectl)
            env = store(tmp, "healthy", same, bindir, kubectl_dir, m.url)
            env["SSL_CERT_FILE"] = session_ca().pem_path
            for _ in range(args.runs):
                timed([k, "get", "pods"], env)
            time.sleep(1.0)
            print(f"healthy mirror, server v1.37.0, kubectl 1.37.1 on PATH: {len(m.requests)} request(s) "
                  f"reached the mirror in {args.runs} runs (must be 0)")
            over = over or bool(m.requests)
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print("OVER" if over else "within budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
