"""Benchmark: importing a 1,000-context kubeconfig and listing 1,000 entries.

Baseline in the same run: `kubectl config get-contexts` on the same 1,000-context file
(what kubectx-style tools parse on every call).  Usage: python bench/store.py [--entries N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)


def kubeconfig(path: str, n: int) -> None:
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\nclusters:\n")
        f.writelines(f"- name: c{i}\n  cluster:\n    server: https://10.0.{i // 250}.{i % 250}:6443\n"
                    f"    certificate-authority-data: {'QUJD' * 300}\n" for i in range(n))
        f.write("users:\n")
        f.writelines(f"- name: u{i}\n  user:\n    token: token-{i}-{'x' * 40}\n" for i in range(n))
        f.write("contexts:\n")
        for i in range(n):
            tier = "prod" if i % 10 == 0 else "dev"
            f.write(f"- name: ctx-{tier}-{i:04d}\n  context:\n    cluster: c{i}\n    user: u{i}\n"
                    f"    namespace: ns{i % 7}\n")
        f.write("current-context: ctx-prod-0000\n")


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    kctx = os.path.join(BIN, "kctx")
    kubectl = os.path.join(BIN, "kubectl") if os.path.exists(os.path.join(BIN, "kubectl")) else shutil.which("kubectl")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "config")
        kubeconfig(src, args.entries)
        imports = []
        for i in range(3):
            env = {**os.environ, "KCTX_HOME": os.path.join(tmp, f"home{i}"), "HOME": tmp}
            imports.append(timed([kctx, "import", src], env))
        env = {**os.environ, "KCTX_HOME": os.path.join(tmp, "home0"), "HOME": tmp}
        lists, baseline = [], []
        for _ in range(args.runs):
            lists.append(timed([kctx, "list"], env))
            if kubectl:
                baseline.append(timed([kubectl, "config", "get-contexts", "--kubeconfig", src], env))
    print(f"entries: {args.entries}")
    print(f"kctx import (1 file, {args.entries} contexts): median {statistics.median(imports):.0f} ms "
          f"over {len(imports)} runs (target <= 5000 ms)")
    print(f"kctx list: median {statistics.median(lists):.0f} ms over {len(lists)} runs (target <= 300 ms)")
    if baseline:
        print(f"baseline kubectl config get-contexts on the same file: median {statistics.median(baseline):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
