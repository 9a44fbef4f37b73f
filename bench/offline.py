"""Benchmark: k with a broken kubectl mirror (issue 8), each against its baseline in the same run.

A fake API server (tests/fakeapi, TLS on 127.0.0.1) reports v1.36.4, which is not installed;
the real kubectl 1.37.1 (within the skew policy) is on PATH. For each broken mirror, (a) a
127.0.0.1 port that refuses, (b) one that accepts and never answers, (c) an unresolvable name,
in fresh stores whose server version is known (`kctx kubectl which`, as `kctx use` learns it):

  shell    `k get pods` as typed in a kctx bash shell: the integration's function, in one bash
           that loaded it and ran `kctx use lab` (timed with EPOCHREALTIME, as bench/k.py does),
           against kubectl run directly in the same bash just before each k
  command  the installed `k` command (what scripts run, KUBECONFIG=<entry file>: always Python),
           against the same command in a store whose mirror is healthy and whose kubectl v1.36.4
           is installed: what the broken mirror adds to k's Python path

For each: "first" is the first `k get pods` of the store (it starts the background download that
fails), "next" the median of the next ten, each paired with a baseline run. Budgets: first at
most 300 ms over its baseline, next at most 10 ms. Then, with the mirror healthy and a server of
PATH's minor (v1.37.0): the number of requests that reach the mirror (must be 0).

    python bench/offline.py [--runs 10] [--kubectl PATH]
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

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
SERVER = "v1.36.4"


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


def store(tmp: str, name: str, api: object, bindir: str, kubectl_dir: str, mirror: str,
          **extra: str) -> dict[str, str]:
    """A fresh store (and HOME) with the entry `lab` on `api`, its server's version known."""
    from fakeapi import write_kubeconfig

    home = os.path.join(tmp, name)
    env = {**os.environ, "KCTX_HOME": home, "HOME": home, "KCTX_KUBECTL_MIRROR": mirror, **extra,
           "PATH": os.pathsep.join([bindir, kubectl_dir, "/usr/bin", "/bin"])}
    for key in ("KCTX_KUBECTL", "KCTX_IN_K", "KUBECONFIG", "KCTX_NO_FAST"):
        env.pop(key, None)
    os.makedirs(home)
    src = os.path.join(tmp, f"{name}.kubeconfig")
    write_kubeconfig(src, [{"name": "lab", "server": api}])
    for args in (["import", src], ["kubectl", "which", "lab"]):
        subprocess.run([os.path.join(bindir, "kctx"), *args], env=env, capture_output=True, check=True)
    env["KUBECONFIG"] = os.path.join(home, "data", "entries", "lab.yaml")
    return env


SHELL_LOOP = r'''
set -u
export LC_ALL=C
eval "$("$BIN/kctx" init bash --no-kubectl 2>/dev/null)" || exit 3
kctx use lab >/dev/null 2>&1 || exit 3
t() {  # one timed run: "<what> <microseconds>"
    local what=$1 t0 t1; shift
    t0=$EPOCHREALTIME
    "$@" >/dev/null 2>>"$ERR" || { echo "FAILED $what" >&2; exit 4; }
    t1=$EPOCHREALTIME
    echo "$what $(( ${t1/./} - ${t0/./} ))"
}
t kubectl command "$KUBECTL" get pods
t k k get pods
for ((i = 0; i < RUNS; i++)); do
    t kubectl command "$KUBECTL" get pods
    before=$(stat -c %y "${KUBECONFIG%%:*}.k" 2>&1)
    t k k get pods
    # untimed: the guard's Python rewrites the session's note at every read it runs
    [[ $(stat -c %y "${KUBECONFIG%%:*}.k" 2>&1) == "$before" ]] || echo "python $i"
done
'''


def in_shell(env: dict[str, str], bindir: str, kubectl: str, runs: int, tmp: str) -> dict[str, list[float]]:
    """ms of each run in one bash with the integration: {"kubectl": [...], "k": [...]}, first
    first; "python": one item per k of the next ones that went through the guard's Python."""
    e = dict(env, BIN=bindir, KUBECTL=kubectl, RUNS=str(runs), ERR=os.path.join(tmp, "shell.err"))
    e.pop("KUBECONFIG")  # the shell's session sets it (kctx use)
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", SHELL_LOOP], env=e, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the shell loop failed ({proc.returncode}): {proc.stderr[-1500:]}")
    out: dict[str, list[float]] = {"kubectl": [], "k": [], "python": []}
    for line in proc.stdout.splitlines():
        what, us = line.split()
        out[what].append(int(us) / 1000)
    return out


def commands(env: dict[str, str], healthy: dict[str, str], k: str, kubectl: str, runs: int) -> dict[str, list[float]]:
    """ms of the k command in the broken store and in the healthy one, alternating, first first."""
    for e in (env, healthy):
        timed([kubectl, "get", "pods"], e)  # kubectl's discovery cache, in each store's HOME
    cmd = [k, "get", "pods"]
    out: dict[str, list[float]] = {"broken": [], "healthy": []}
    for i in range(runs + 1):
        order = (("healthy", healthy), ("broken", env)) if i % 2 == 0 else (("broken", env), ("healthy", healthy))
        for name, e in order:
            out[name].append(timed(cmd, e))
    return out


def healthy_store(tmp: str, name: str, api: object, bindir: str, kubectl_dir: str, mirror: object,
                  ca_file: str) -> dict[str, str]:
    """A store whose mirror answers and whose kubectl for the server (v1.36.4) is installed."""
    env = store(tmp, name, api, bindir, kubectl_dir, mirror.url, SSL_CERT_FILE=ca_file)  # type: ignore[attr-defined]
    subprocess.run([os.path.join(bindir, "kctx"), "kubectl", "install", SERVER[1:]], env=env,
                   capture_output=True, check=True)
    return env


def row(label: str, way: str, first: float, base_first: float, nxt: list[float], base_next: list[float]) -> tuple[float, float]:
    added_first = first - base_first
    added_next = statistics.median(nxt) - statistics.median(base_next)
    print(f"{label:<13}{way:<9}{first:>8.1f}{base_first:>9.1f}{added_first:>+8.1f}   "
          f"{statistics.median(nxt):>8.1f}{statistics.median(base_next):>9.1f}{added_next:>+8.1f}")
    return added_first, added_next


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--kubectl")
    args = ap.parse_args()
    from fakeapi import FakeAPIServer
    from fakeapi.tls import session_ca
    from mirror import KubectlMirror

    kubectl = real_kubectl(args.kubectl)
    bindir = str(installed_bin())
    k = os.path.join(bindir, "k")
    ca = session_ca()
    with tempfile.TemporaryDirectory() as tmp, FakeAPIServer(SERVER, False, "lab") as api, \
            KubectlMirror(os.path.join(tmp, "mirror"), ca) as good:
        good.add_version(SERVER[1:], kubectl)
        kubectl_dir = os.path.join(tmp, "kubectl-bin")
        os.makedirs(kubectl_dir)
        os.symlink(kubectl, os.path.join(kubectl_dir, "kubectl"))
        hang_url, hang_sock = hanging()
        print(f"k: {k}\nkubectl on PATH: {kubectl} (server {SERVER}, not installed)\n")
        print("shell: the k function in a kctx bash, against kubectl directly; command: the k command,")
        print("against the same command with a healthy mirror and the server's kubectl installed\n")
        print(f"{'mirror':<13}{'way':<9}{'first k':>8}{'baseline':>9}{'added':>8}   "
              f"{'next k':>8}{'baseline':>9}{'added':>8}   (ms; next: medians of {args.runs})")
        worst = {"first": 0.0, "next": 0.0}
        through_python = 0
        for label, url in (("refused", refused()), ("hanging", hang_url), ("unresolvable", "https://mirror.invalid")):
            shell_env = store(tmp, f"{label}-shell", api, bindir, kubectl_dir, url)
            s = in_shell(shell_env, bindir, kubectl, args.runs, tmp)
            cmd_env = store(tmp, f"{label}-command", api, bindir, kubectl_dir, url)
            healthy = healthy_store(tmp, f"{label}-healthy", api, bindir, kubectl_dir, good, ca.pem_path)
            c = commands(cmd_env, healthy, k, kubectl, args.runs)
            through_python = max(through_python, len(s["python"]))
            for added in (row(label, "shell", s["k"][0], s["kubectl"][0], s["k"][1:], s["kubectl"][1:]),
                          row("", "command", c["broken"][0], c["healthy"][0], c["broken"][1:], c["healthy"][1:])):
                worst["first"] = max(worst["first"], added[0])
                worst["next"] = max(worst["next"], added[1])
        hang_sock.close()
        print(f"in the shell, at most {through_python} of the next {args.runs} k went through Python "
              "(the others: the fast path, from the session's note)")
        print(f"\nlargest added: first {worst['first']:.1f} ms (budget {FIRST_BUDGET:.0f}), "
              f"next {worst['next']:.1f} ms (budget {NEXT_BUDGET:.0f})")
        over = worst["first"] > FIRST_BUDGET or worst["next"] > NEXT_BUDGET

        # Healthy mirror, a server of PATH's minor: nothing may reach the mirror.
        with FakeAPIServer("v1.37.0", False, "same") as same, \
                KubectlMirror(os.path.join(tmp, "mirror-same"), ca) as m:
            m.add_version("1.37.0", kubectl)
            env = store(tmp, "healthy", same, bindir, kubectl_dir, m.url, SSL_CERT_FILE=ca.pem_path)
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
