"""Benchmark: what `k`'s decision on a change costs, by how the target is found.

`k delete pod x` is timed with KCTX_KUBECTL=/bin/true, so a command that passes costs the
decision and the exec of a no-op, and one that is refused (no terminal: exit 4) the decision
alone; /bin/true run directly is the same-run baseline. The store holds prod (tier prod,
https://127.0.0.1:PORT) and dev (tier dev, https://localhost:PORT); the cases:

    dev read          `k get pods` in a kctx shell on dev, through Python: no protection decided
    dev session       a kctx shell on dev: passes (its address is compared with prod's)
    prod session      a kctx shell on prod: refused (tier)
    prod as localhost another kubeconfig naming prod https://localhost:PORT: refused (address)
    prod's CA         another kubeconfig, another server trusting prod's CA: refused (CA)
    unknown server    another kubeconfig, a server and CA kctx does not know: passes

With --before REF (repeatable) the `k` of that commit is measured too, in the same runs.
Host names come from the address cache after the first run (the warm-up).

    python bench/guard.py [--runs 30] [--before REF]
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

import argparse
import base64
import json
import statistics
import subprocess
import tempfile
import time

sys.path.append(HERE)
from benchlib import installed_bin, installed_ref

TRUE = "/bin/true"
Cmd = tuple[list[str], dict[str, str], "int | None"]  # argv, environment, exit code expected


def dump(doc: dict, path: str) -> None:  # type: ignore[type-arg]
    with open(path, "w") as f:
        json.dump(doc, f)


def timed(cmd: list[str], env: dict[str, str], expect: int | None) -> tuple[float, float, int]:
    """(wall ms, CPU ms, exit code) of one run, in a new session (no terminal to ask on)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - t) * 1000
    code = os.waitstatus_to_exitcode(status)
    if expect is not None and code != expect:
        sys.exit(f"{' '.join(cmd)}: exit {code}, expected {expect}: {err.decode()[-500:]}")
    return elapsed, (usage.ru_utime + usage.ru_stime) * 1000, code


def kubeconfig(path: str, name: str, server: str, ca_pem: bytes) -> None:
    dump({"apiVersion": "v1", "kind": "Config", "current-context": name,
          "clusters": [{"name": name, "cluster": {
              "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
          "users": [{"name": "u", "user": {"token": "t"}}],
          "contexts": [{"name": name, "context": {"cluster": name, "user": "u"}}]}, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30, help="runs of each case (default 30)")
    ap.add_argument("--before", action="append", default=[], metavar="REF",
                    help="also measure the k of this commit (a git ref; may be repeated)")
    args = ap.parse_args()
    import trustme

    ks = {"now": str(installed_bin() / "k")}
    for ref in args.before:
        ks[ref] = str(installed_ref(ref) / "k")
    kctx = str(installed_bin() / "kctx")
    prod_ca, dev_ca, other_ca = trustme.CA(), trustme.CA(), trustme.CA()
    with tempfile.TemporaryDirectory() as tmp:
        env = {key: v for key, v in os.environ.items() if not key.startswith(("KCTX_", "KUBE"))}
        env.update(HOME=os.path.join(tmp, "home"), KCTX_HOME=os.path.join(tmp, "kctx"), NO_COLOR="1",
                   KCTX_KUBECTL=TRUE)
        os.makedirs(env["HOME"])
        src = os.path.join(tmp, "config")
        b64 = {name: base64.b64encode(ca.cert_pem.bytes()).decode() for name, ca in (("prod", prod_ca), ("dev", dev_ca))}
        dump({"apiVersion": "v1", "kind": "Config", "current-context": "dev",
              "clusters": [
                  {"name": "prod", "cluster": {"server": "https://127.0.0.1:16443", "certificate-authority-data": b64["prod"]}},
                  {"name": "dev", "cluster": {"server": "https://localhost:16444", "certificate-authority-data": b64["dev"]}}],
              "users": [{"name": "u", "user": {"token": "t"}}],
              "contexts": [{"name": n, "context": {"cluster": n, "user": "u", "namespace": "ns"}} for n in ("prod", "dev")]},
             src)
        for cmd in (["import", src], ["tier", "prod", "prod"], ["tier", "dev", "dev"]):
            subprocess.run([kctx, *cmd], env=env, check=True, capture_output=True)
        entries = os.path.join(tmp, "kctx", "data", "entries")
        sessions = os.path.join(tmp, "kctx", "run", "sessions")
        os.makedirs(sessions, mode=0o700)

        def shell(entry: str) -> dict[str, str]:
            session = os.path.join(sessions, f"{os.getpid()}-{entry}.json")
            with open(session, "w") as f:
                f.write('{"apiVersion":"v1","kind":"Config","preferences":{},'
                        f'"current-context":"{entry}","contexts":[{{"name":"{entry}","context":'
                        f'{{"cluster":"{entry}","user":"u","namespace":"ns-{entry}"}}}}]}}')
            return dict(env, KUBECONFIG=f"{session}:{os.path.join(entries, entry + '.yaml')}")

        files = {}
        for name, server, ca in (("lb", "https://localhost:16443", prod_ca), ("alt", "https://127.0.0.1:16445", prod_ca),
                                 ("lab", "https://127.0.0.1:16446", other_ca)):
            files[name] = os.path.join(tmp, name + ".json")
            kubeconfig(files[name], name, server, ca.cert_pem.bytes())
        cases: dict[str, Cmd] = {
            "dev read": (["get", "pods"], shell("dev"), 0),
            "dev session": (["delete", "pod", "x"], shell("dev"), 0),
            "prod session": (["delete", "pod", "x"], shell("prod"), 4),
            "prod as localhost": (["--kubeconfig", files["lb"], "delete", "pod", "x"], env, 4),
            "prod's CA": (["--kubeconfig", files["alt"], "delete", "pod", "x"], env, 4),
            "unknown server": (["--kubeconfig", files["lab"], "delete", "pod", "x"], env, 0),
        }
        cmds: dict[tuple[str, str], Cmd] = {}
        for case, (argv, e, code) in cases.items():
            for label, k in ks.items():
                # The k of before may let through what it should not: its exit code is shown.
                cmds[(case, label)] = ([k, *argv], e, code if label == "now" else None)
            cmds[(case, "true")] = ([TRUE], e, 0)
        for argv, e, code in cmds.values():  # warm up: page cache, address cache, index refresh
            for _ in range(2):
                timed(argv, e, code)
        runs: dict[tuple[str, str], list[tuple[float, float, int]]] = {key: [] for key in cmds}
        order = list(cmds)
        for i in range(args.runs):
            for key in order if i % 2 == 0 else order[::-1]:
                argv, e, code = cmds[key]
                runs[key].append(timed(argv, e, code))
    med = {key: (statistics.median(w for w, _, _ in r), statistics.median(c for _, c, _ in r)) for key, r in runs.items()}
    codes = {key: "refused" if r[-1][2] == 4 else "passed" if r[-1][2] == 0 else f"exit {r[-1][2]}"
             for key, r in runs.items()}
    print("; ".join(f"k {label}: {k}" for label, k in ks.items()))
    print(f"{args.runs} alternating runs of each; KCTX_KUBECTL={TRUE}; medians in ms, wall (CPU)")
    labels = list(ks)
    print(f"{'case':18} {'/bin/true':>14} " + " ".join(f"{'k ' + lbl[:12]:>14} {'added':>7} {'':7}" for lbl in labels))
    for case in cases:
        tw, tc = med[(case, "true")]
        cells = []
        for lbl in labels:
            kw, kc = med[(case, lbl)]
            cells.append(f"{kw:7.1f} ({kc:5.1f}) {kw - tw:7.1f} {codes[(case, lbl)]:7}")
        print(f"{case:18} {tw:6.1f} ({tc:5.1f}) " + " ".join(cells))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
