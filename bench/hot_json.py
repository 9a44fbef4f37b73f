"""Why the hot paths have their own JSON (kctx.minijson): the cost of importing each.

Each sample is a fresh `python -I -S` that imports the module and parses and writes one
session kubeconfig, as `k` and `kctx use` do; the baseline is the same Python doing nothing.
    python bench/hot_json.py [-n 30]
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ('{"apiVersion":"v1","kind":"Config","preferences":{},"current-context":"prod",'
       '"contexts":[{"name":"prod","context":{"cluster":"c","user":"u","namespace":"x"}}]}')
CASES = {
    "python alone": "pass",
    "json": f"import json; json.dumps(json.loads({DOC!r}))",
    "kctx.minijson": f"import sys; sys.path.insert(0, {str(ROOT)!r}); from kctx import minijson; "
                     f"minijson.dumps(minijson.loads({DOC!r}))",
}


def sample(code: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True)
    return (time.perf_counter() - t) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    n = ap.parse_args().n
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(n):  # interleaved, so a busy machine weighs on every case alike
        for name, code in CASES.items():
            times[name].append(sample(code))
    base = statistics.median(times["python alone"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:14s} median {med:6.1f} ms  (+{med - base:5.1f} ms over python alone)")


if __name__ == "__main__":
    main()
