"""Benchmark: what choosing the kubectl costs `k` on a warm cache.

A store of N entries (default 1,000) whose server versions are cached and whose kubectl is
installed, then, alternating in one run:
  1. in-process: kctx.kubectl.choice.choose() for one entry, per call;
  2. a fresh interpreter that imports kctx.kubectl.choice and calls resolve(), against one that only
     imports kctx.paths (the difference is the choice's import and run cost);
  3. `k version --client` on the entry as a user runs it, against the same `k` told the kubectl
     by KCTX_KUBECTL (which skips the choice and the target resolution it needs), and against
     running that kubectl directly.
No network: the cache is warm, so nothing asks a server or a mirror.

Usage: python bench/kubectl_choice.py [--entries N] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import marshal
import os
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)


def kubeconfig(path: str, n: int) -> None:
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\nclusters:\n")
        f.writelines(f"- name: c{i}\n  cluster:\n    server: https://10.0.{i // 250}.{i % 250}:6443\n" for i in range(n))
        f.write("users:\n")
        f.writelines(f"- name: u{i}\n  user:\n    token: token-{i}\n" for i in range(n))
        f.write("contexts:\n")
        f.writelines(f"- name: e{i:04d}\n  context:\n    cluster: c{i}\n    user: u{i}\n" for i in range(n))
        f.write("current-context: e0000\n")


def warm_cache(n: int, kubectl: str) -> None:
    """Every server at v1.30.4-eks-…, probed a minute ago; kubectl 1.30.4 installed."""
    from kctx import paths
    from kctx.fsutil import atomic_write, ensure_dir
    from kctx.kubectl import probe

    now = time.time() - 60
    servers = {f"https://10.0.{i // 250}.{i % 250}:6443": {
        "git_version": "v1.30.4-eks-a737599", "kubectl": "1.30.4", "major": 1, "minor": 30,
        "emulated": None, "checked": now, "via": "https", "error": None, "failed": None}
        for i in range(n)}
    doc = {"version": probe.CACHE_VERSION, "servers": servers}
    atomic_write(paths.server_versions_file(), json.dumps(doc))
    ensure_dir(os.path.dirname(paths.server_version_hot_file("x")))
    for url, rec in servers.items():
        atomic_write(paths.server_version_hot_file(probe.hot_key(url)), marshal.dumps((probe.CACHE_VERSION, rec)),
                     fsync=False)
    ensure_dir(os.path.dirname(paths.kubectl_binary("1.30.4")))
    os.symlink(kubectl, paths.kubectl_binary("1.30.4"))


CPU: dict[tuple[str, ...], list[float]] = {}


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall milliseconds; the child's CPU milliseconds (user + system) go to CPU[cmd]."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed with {proc.returncode}")
    CPU.setdefault(tuple(cmd) + (env.get("KCTX_KUBECTL", ""),), []).append((usage.ru_utime + usage.ru_stime) * 1000)
    return wall


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    kubectl = os.path.join(BIN, "kubectl")
    k = os.path.join(BIN, "k")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KCTX_HOME"] = os.path.join(tmp, "home")
        os.environ["HOME"] = tmp
        os.environ.pop("KCTX_KUBECTL", None)
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed kctx has its .pyc files
        src = os.path.join(tmp, "config")
        kubeconfig(src, args.entries)
        from kctx import paths
        from kctx.kubectl import choice
        from kctx.store import Store

        Store().import_files([src])
        warm_cache(args.entries, kubectl)
        name = f"e{args.entries // 2:04d}"
        rec = Store().get(name)
        record = {"server": rec.server, "pin": None}
        c = choice.choose(name, record)
        assert c.path == paths.kubectl_binary("1.30.4") and not c.warnings, c.as_dict()

        # 1. in process
        per_call = []
        for _ in range(2000):
            t = time.perf_counter()
            choice.choose(name, record)
            per_call.append((time.perf_counter() - t) * 1e6)

        env = {**os.environ, "KUBECONFIG": paths.entry_file(name)}
        # 2. fresh interpreters
        py = sys.executable
        with_choice = [py, "-I", "-c", f"from kctx.kubectl import choice; choice.resolve({name!r})"]
        baseline = [py, "-I", "-c", "import kctx.paths"]
        for cmd in (with_choice, baseline):
            timed(cmd, env)  # compile the .pyc files once
        a, b = [], []
        for _ in range(args.runs):
            a.append(timed(with_choice, env))
            b.append(timed(baseline, env))
        # The same, timed inside the interpreter: immune to process start-up noise.
        inside_code = ("import time; t = time.perf_counter(); from kctx.kubectl import choice; "
                       f"choice.resolve({name!r}); print((time.perf_counter() - t) * 1000)")
        inside = [float(subprocess.run([py, "-I", "-c", inside_code], env=env, check=True, capture_output=True,
                                       text=True).stdout) for _ in range(args.runs)]

        # 3. k as a user runs it: in a shell switched by `kctx use` (a session file before the
        # entry file, as KUBECONFIG then is)
        ks, kx, raw = [], [], []
        cpu: dict[str, float] = {}
        if os.path.exists(k):
            from kctx import session

            sess = session.new_path(os.getpid())
            session.write(sess, session.render(name, rec.cluster, rec.user, None))
            env = {**env, "KUBECONFIG": os.pathsep.join([sess, paths.entry_file(name)]), "KCTX_CONTEXT": name}
            direct = {**env, "KCTX_KUBECTL": paths.kubectl_binary("1.30.4")}
            timed([k, "version", "--client"], env)
            for _ in range(args.runs):
                ks.append(timed([k, "version", "--client"], env))
                kx.append(timed([k, "version", "--client"], direct))
                raw.append(timed([kubectl, "version", "--client"], env))
            for label, cmd, e in (("k", [k, "version", "--client"], env), ("kx", [k, "version", "--client"], direct),
                                  ("raw", [kubectl, "version", "--client"], env)):
                cpu[label] = median(CPU[tuple(cmd) + (e.get("KCTX_KUBECTL", ""),)])

    print(f"entries in the store: {args.entries}, runs: {args.runs} (alternating)")
    print(f"1. choose() in process, warm cache:   median {median(per_call):7.1f} µs per call")
    print(f"2. fresh python + resolve():          median {median(a):6.1f} ms")
    print(f"   fresh python + import kctx.paths:  median {median(b):6.1f} ms")
    print(f"   choice's import + run cost:        median {median(a) - median(b):+6.1f} ms")
    print(f"   the same, timed inside python:     median {median(inside):6.1f} ms (import kctx.kubectl.choice + resolve)")
    if ks:
        print(f"3. k version --client (choice):       median {median(ks):6.1f} ms")
        print(f"   k with KCTX_KUBECTL (no choice):   median {median(kx):6.1f} ms")
        print(f"   kubectl version --client:          median {median(raw):6.1f} ms")
        print(f"   choice inside k:                   median {median(ks) - median(kx):+6.1f} ms")
        print(f"   k over raw kubectl:                median {median(ks) - median(raw):+6.1f} ms")
        print(f"   CPU time (user+sys), medians:      k {cpu['k']:.1f} ms, k with KCTX_KUBECTL {cpu['kx']:.1f} ms, "
              f"kubectl {cpu['raw']:.1f} ms: choice {cpu['k'] - cpu['kx']:+.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
