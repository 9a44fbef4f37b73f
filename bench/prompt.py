"""Benchmark: the cost of kctx's prompt hook per prompt, against an empty hook, and its forks.

    python bench/prompt.py [--calls 10000] [--rounds 7] [--directories]

bash, zsh and nu: the hook and an empty function are each called CALLS times in a loop inside
one shell, timed with $EPOCHREALTIME (nu: `date now`); the figure is the median over ROUNDS of
(hook - empty) / CALLS. fish has no clock without forking: there the wall time of two fish
processes (hook loop, empty loop) is compared. Forks are counted with strace (clone/fork/vfork/execve by the shell,
threads excluded) while the hook runs 1,000 times. Target: at most 0.2 ms per prompt in bash,
and 0 forks. --directories measures with `shell: {directories: true}` (the hook then also
compares $PWD with the last prompt's; the shells run in a folder holding a `.kctx` file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from pty_shell import script_argv, shell_trace

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: secret}}]
contexts: [{name: prod-eu, context: {cluster: c, user: u, namespace: payments}}]
current-context: prod-eu
"""

# The same timing loop in bash and zsh; only the start (loading the integration, the clock
# module in zsh) and the empty function's syntax differ.
LOOP_START = {
    "bash": 'eval "$(kctx init bash --no-kubectl)"\n__empty_hook() {{ :; }}',
    "zsh": 'eval "$(kctx init zsh --no-kubectl)"\nzmodload zsh/datetime\n__empty_hook() {{ : }}',
}
LOOP = r"""
{start}
kctx use prod-eu
{prepare}
for ((r = 0; r < {rounds}; r++)); do
    t0=$EPOCHREALTIME
    for ((i = 0; i < {calls}; i++)); do __kctx_hook; done
    t1=$EPOCHREALTIME
    for ((i = 0; i < {calls}; i++)); do __empty_hook; done
    t2=$EPOCHREALTIME
    printf '%s %s %s\n' "$t0" "$t1" "$t2"
done
"""

PREPARE = {
    "steady": "",
    "drifted namespace": "kubectl config set-context --current --namespace=moved >/dev/null",
    "KUBECONFIG changed": "KUBECONFIG=/elsewhere",
}

# nu cannot load the integration and use it in one parse: `kctx init nu` is saved first.
NU_LOOP = r"""
source {init}
kctx use prod-eu
{prepare}
def --env __empty_hook [] {{ }}
for r in 1..{rounds} {{
    let t0 = (date now | into int)
    for i in 1..{calls} {{ __kctx_hook }}
    let t1 = (date now | into int)
    for i in 1..{calls} {{ __empty_hook }}
    let t2 = (date now | into int)
    print $"($t0) ($t1) ($t2)"
}}
"""
NU_PREPARE = {
    "steady": "",
    "drifted namespace": "^kubectl config set-context --current --namespace=moved | ignore",
    "KUBECONFIG changed": "$env.KUBECONFIG = '/elsewhere'",
}


def nu_init(env: dict[str, str], tmp: Path) -> Path:
    path = tmp / "kctx.nu"
    path.write_text(subprocess.run(["kctx", "init", "nu", "--no-kubectl"], env=env, check=True,
                                   capture_output=True, text=True).stdout)
    return path


def nu_loop(prepare: str, calls: int, rounds: int, env: dict[str, str], tmp: Path) -> tuple[float, float]:
    script = NU_LOOP.format(init=nu_init(env, tmp), prepare=prepare, calls=calls, rounds=rounds)
    out = subprocess.run(script_argv("nu", script), env=env, capture_output=True, text=True, check=True).stdout
    hook, empty = [], []
    for line in out.splitlines():
        t0, t1, t2 = (int(x) for x in line.split())
        hook.append((t1 - t0) / calls / 1e3)
        empty.append((t2 - t1) / calls / 1e3)
    return statistics.median(hook), statistics.median(empty)


def run_loop(shell: str, prepare: str, calls: int, rounds: int, env: dict[str, str]) -> tuple[float, float]:
    script = LOOP.format(start=LOOP_START[shell].format(), prepare=prepare, calls=calls, rounds=rounds)
    out = subprocess.run(script_argv(shell, script), env=env, capture_output=True, text=True, check=True).stdout
    hook, empty = [], []
    for line in out.splitlines():
        t0, t1, t2 = (float(x.replace(",", ".")) for x in line.split())
        hook.append((t1 - t0) / calls * 1e6)
        empty.append((t2 - t1) / calls * 1e6)
    return statistics.median(hook), statistics.median(empty)


def fish_loop(calls: int, rounds: int, env: dict[str, str]) -> tuple[float, float]:
    body = " ".join(["__kctx_refresh;"] * 100)
    empty = " ".join(["__empty_hook;"] * 100)
    reps = max(1, calls // 100)
    setup = "kctx init fish --no-kubectl | source; kctx use prod-eu; function __empty_hook; end; "
    hook_t: list[float] = []
    empty_t: list[float] = []
    for _ in range(rounds):
        for target, fn in ((hook_t, body), (empty_t, empty)):
            script = setup + f"for i in (string split ' ' (string repeat -n {reps} 'x ')); {fn}; end"
            t = time.perf_counter()
            subprocess.run(script_argv("fish", script), env=env, check=True, capture_output=True)
            target.append(time.perf_counter() - t)
    per = (statistics.median(hook_t) - statistics.median(empty_t)) / (reps * 100) * 1e6
    return per, 0.0


def forks(shell: str, env: dict[str, str], tmp: Path) -> int | None:
    """Processes the shell starts while its hook runs 1,000 times (None: strace unusable)."""
    if not shutil.which("strace") or subprocess.run(["strace", "-o", os.devnull, "true"], check=False).returncode:
        return None
    start, end, log = tmp / "START", tmp / "END", tmp / f"strace-{shell}.log"
    # The hook runs once before the count: its first prompt in the folder (with --directories)
    # runs `kctx _dir` once, as entering a folder does; the count is of the prompts after it.
    if shell == "fish":
        script = (f"kctx init fish --no-kubectl | source; kctx use prod-eu; true > {start}; "
                  f"for i in (string split ' ' (string repeat -n 1000 'x ')); __kctx_refresh; end; true > {end}")
    elif shell == "nu":
        script = (f"source {nu_init(env, tmp)}; kctx use prod-eu; __kctx_hook; '' | save -f {start}; "
                  f"for i in 1..1000 {{ __kctx_hook }}; '' | save -f {end}")
    else:
        script = (f'eval "$(kctx init {shell} --no-kubectl)"; kctx use prod-eu; __kctx_hook; : > {start}; '
                  f"for ((i = 0; i < 1000; i++)); do __kctx_hook; done; : > {end}")
    subprocess.run(["strace", "-f", "-e", "trace=clone,clone3,fork,vfork,execve,openat,open", "-o", str(log),
                    *script_argv(shell, script)],
                   env=env, check=True, capture_output=True)
    return len(shell_trace(log.read_text().splitlines(), str(start), str(end))[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--directories", action="store_true", help="with shell.directories on")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kctx-prompt-bench-") as t:
        tmp = Path(t)
        (tmp / "home").mkdir()
        (tmp / "run").mkdir(mode=0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KCTX_") and k != "KUBECONFIG"}
        env.update(HOME=str(tmp / "home"), KCTX_HOME=str(tmp / "kctx"), XDG_RUNTIME_DIR=str(tmp / "run"))
        # The kctx installed beside this interpreter, whether or not its bin folder is on PATH.
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        src = tmp / "kubeconfig.yaml"
        src.write_text(KUBECONFIG)
        subprocess.run(["kctx", "import", str(src)], env=env, check=True, capture_output=True)
        if args.directories:
            (tmp / "kctx" / "config").mkdir(parents=True, exist_ok=True)
            (tmp / "kctx" / "config" / "config.yaml").write_text("shell:\n  directories: true\n")
            (tmp / "home" / ".kctx").write_text("prod-eu\n")
            os.chdir(tmp / "home")
        print(f"per prompt, median of {args.rounds} rounds of {args.calls} calls (hook - empty hook)"
              + (", shell.directories on:" if args.directories else ":"))
        bash_steady = None
        for shell in ("bash", "zsh"):
            if not shutil.which(shell):
                continue
            for state, prepare in PREPARE.items():
                hook, empty = run_loop(shell, prepare, args.calls, args.rounds, env)
                if shell == "bash" and state == "steady":
                    bash_steady = hook - empty
                print(f"  {shell:4} {state:19} hook {hook:7.1f} us   empty {empty:5.1f} us   "
                      f"added {hook - empty:7.1f} us")
        if shutil.which("nu"):
            for state, prepare in NU_PREPARE.items():
                hook, empty = nu_loop(prepare, args.calls, args.rounds, env, tmp)
                print(f"  nu   {state:19} hook {hook:7.1f} us   empty {empty:5.1f} us   "
                      f"added {hook - empty:7.1f} us")
        if shutil.which("fish"):
            added, _ = fish_loop(args.calls // 5, max(3, args.rounds // 2), env)
            print(f"  fish steady (wall time of two fish runs)            added {added:7.1f} us")
        for shell in ("bash", "zsh", "fish", "nu"):
            if shutil.which(shell):
                n = forks(shell, env, tmp)
                print(f"  forks while {shell} runs its hook 1,000 times: "
                      + ("strace unavailable" if n is None else str(n)))
        if bash_steady is not None:
            ok = bash_steady <= 200
            print(f"target: at most 200 us per prompt in bash: {'met' if ok else 'NOT met'} ({bash_steady:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
