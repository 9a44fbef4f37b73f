"""Switching without a terminal: session files, what kubectl makes of them, the commands' output
and exit codes, the fast path, sweeping, exec, current, prompt, unlock state, completion."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from kctx import paths, session
from kctx.commands import switch

VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def store(fake_api, kubeconfig, run_kctx):
    a, b = fake_api(name="alpha"), fake_api(name="beta")
    src = kubeconfig([
        {"name": "alpha", "server": a},
        {"name": "beta-prod", "server": b, "namespace": "team-b"},
    ])
    run_kctx("import", str(src), check=True)
    return {"alpha": a, "beta-prod": b, "source": src}


def bash(script: str, **env: str) -> subprocess.CompletedProcess:
    """A non-interactive bash with the integration loaded, running `script`."""
    full = 'eval "$(kctx init bash --no-kubectl)"\n' + script
    return subprocess.run(["bash", "--norc", "--noprofile", "-c", full], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=60, check=False)


def use_env(pid: int | None = None, **extra: str) -> dict[str, str]:
    return {"KCTX_SHELL": "bash", "KCTX_SHELL_PID": str(pid or os.getpid()), **extra}


def emitted(*args: str, **env: str) -> dict[str, str]:
    """Run `kctx ARGS` as the integration would for this (live) process and return the variables
    its bash code sets; the session file stays (no shell exits to remove it)."""
    from apiguard_support import shell_vars

    r = subprocess.run([VENV_BIN / "kctx", *args], capture_output=True, text=True,
                       env={**os.environ, **use_env(), **env}, check=False)
    assert r.returncode == 0, r.stderr
    return shell_vars(r.stdout)


# -- session files --------------------------------------------------------------------------------
def test_session_file_holds_only_the_context(store):
    # The layering of an unguarded shell (a protected entry's is test_apiguard's).
    Path(paths.config_file()).parent.mkdir(parents=True, exist_ok=True)
    Path(paths.config_file()).write_text("guard: {api: false}\n")
    r = bash('kctx use beta-prod && printf "%s\\n" "$__kctx_session" "$KUBECONFIG"; '
             'cat "$__kctx_session" > "$HOME/copy"')
    assert r.returncode == 0, r.stderr
    path, kubeconfig = r.stdout.split("\n")[:2]
    assert kubeconfig == f"{path}:{paths.entry_file('beta-prod')}"
    assert session.is_session(path)
    doc = json.loads((Path(os.environ["HOME"]) / "copy").read_text())
    assert set(doc) == {"apiVersion", "kind", "preferences", "current-context", "contexts"}
    assert doc["current-context"] == "beta-prod"
    assert doc["contexts"] == [{"name": "beta-prod", "context": {
        "cluster": "beta-prod", "user": "beta-prod", "namespace": "team-b"}}]
    assert store["beta-prod"].token not in json.dumps(doc)


def test_file_modes(store):
    env = use_env()
    r = subprocess.run([VENV_BIN / "kctx", "use", "alpha"], capture_output=True, text=True,
                       env={**os.environ, **env}, check=False)
    assert r.returncode == 0, r.stderr
    folder = paths.sessions_dir()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(paths.runtime_dir()).st_mode) == 0o700
    files = [f for f in os.listdir(folder) if f.endswith(".json")]
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(os.path.join(folder, files[0])).st_mode) == 0o600


def test_kubectl_follows_the_session_and_writes_where_kubectl_says(store, run_kubectl):
    """Namespace changes land in the session file, credential changes in the entry file."""
    a = store["alpha"]
    kc = emitted("use", "alpha", "-n", "web")["KUBECONFIG"]
    sess, entry = kc.split(":")
    entry_before = Path(entry).read_bytes()
    source_before = store["source"].read_bytes()

    assert run_kubectl("get", "pods", kubeconfig=kc).returncode == 0
    assert [q.path for q in a.requests if q.path.endswith("/pods")] == ["/api/v1/namespaces/web/pods"]

    assert run_kubectl("config", "set-context", "--current", "--namespace=moved", kubeconfig=kc).returncode == 0
    assert "moved" in Path(sess).read_text()
    assert Path(entry).read_bytes() == entry_before
    assert run_kubectl("config", "view", "--minify", "-o", "jsonpath={..namespace}", kubeconfig=kc).stdout == "moved"

    sess_before = Path(sess).read_bytes()
    assert run_kubectl("config", "set-credentials", "alpha", "--token=rotated", kubeconfig=kc).returncode == 0
    assert "rotated" in Path(entry).read_text()
    assert Path(sess).read_bytes() == sess_before
    assert stat.S_IMODE(os.stat(entry).st_mode) == 0o600
    assert store["source"].read_bytes() == source_before


def _jwt(claims: dict) -> str:
    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2ln"


class _Issuer(BaseHTTPRequestHandler):
    """A fake OIDC issuer: discovery, and a token endpoint answering refresh grants."""

    new_id_token = ""
    grants: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, doc: dict) -> None:
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"  # type: ignore[index]
        self._json({"issuer": base, "token_endpoint": base + "/token",
                    "authorization_endpoint": base + "/auth", "jwks_uri": base + "/keys"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        type(self).grants.append(self.rfile.read(length).decode())
        self._json({"access_token": "at", "token_type": "Bearer", "expires_in": 3600,
                    "id_token": type(self).new_id_token, "refresh_token": "refresh-2"})


def test_refreshed_credentials_go_back_to_the_entry_file(fake_api, kubeconfig, run_kctx, run_kubectl):
    """FIELD.md: kubectl writes refreshed tokens to the file defining the user (the entry file),
    so the session file never holds a credential and every shell shares one refresh token."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Issuer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        issuer = f"http://127.0.0.1:{httpd.server_address[1]}"
        fresh = _jwt({"iss": issuer, "aud": "kube", "sub": "me", "exp": int(time.time()) + 3600})
        _Issuer.new_id_token = fresh
        api = fake_api(require_auth=True, name="oidc")
        api.tokens.add(fresh)
        expired = _jwt({"iss": issuer, "aud": "kube", "sub": "me", "exp": 1})
        src = kubeconfig([{"name": "oidc", "server": api, "user_config": {"auth-provider": {
            "name": "oidc", "config": {"client-id": "kube", "idp-issuer-url": issuer,
                                       "id-token": expired, "refresh-token": "refresh-1"}}}}])
        source_before = src.read_bytes()
        run_kctx("import", str(src), check=True)
        kc = emitted("use", "oidc")["KUBECONFIG"]
        sess, entry = kc.split(":")
        sess_before = Path(sess).read_bytes()

        out = run_kubectl("get", "pods", kubeconfig=kc)
        assert out.returncode == 0, out.stderr
        assert any("refresh-1" in g for g in _Issuer.grants)
        assert fresh in Path(entry).read_text() and "refresh-2" in Path(entry).read_text()
        assert Path(sess).read_bytes() == sess_before
        assert src.read_bytes() == source_before
    finally:
        httpd.shutdown()


def test_source_kubeconfig_untouched_by_import_use_and_kubectl(store, run_kubectl):
    before = store["source"].read_bytes()
    r = bash('kctx use alpha && kctx ns x && kubectl get pods >/dev/null && kctx off && kctx use beta-prod')
    assert r.returncode == 0, r.stderr
    assert store["source"].read_bytes() == before


# -- the commands ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["use", "alpha"], ["ns", "web"], ["off"], ["unlock", "5m"], ["lock"]])
def test_without_the_integration_the_hint_says_how_to_load_it(store, run_kctx, args):
    r = run_kctx(*args, env={"SHELL": "/usr/bin/zsh"})
    assert r.returncode != 0
    assert r.stdout == ""
    assert 'eval "$(kctx init zsh)"' in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("bad", ["Bad", "a b", "$(touch x)", "-x", "x-", "a" * 64, "a.b", "ü", ""])
def test_invalid_namespaces_are_refused_in_one_line(store, run_kctx, bad, tmp_path):
    for args in (["use", "alpha", "-n", bad], ["ns", bad]):
        r = run_kctx(*args, env=use_env())
        if args[0] == "ns" and bad.startswith("-"):
            assert r.returncode == 2  # an option to click
            continue
        assert r.returncode == 1, (args, r.stderr)
        assert r.stdout == "" and "Traceback" not in r.stderr
        assert r.stderr.startswith("kctx: invalid namespace") and r.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_valid_namespaces(store, run_kctx):
    for ok in ("a", "kube-system", "a" * 63, "0x1"):
        assert run_kctx("use", "alpha", "-n", ok, env=use_env()).returncode == 0


def test_unknown_and_invalid_entries(store, run_kctx):
    for name in ("nope", "../../etc/passwd", "..", "-", "a/b"):
        r = run_kctx("use", name, env=use_env())
        assert r.returncode == 1 and r.stdout == "" and "Traceback" not in r.stderr, (name, r.stderr)
        assert r.stderr.count("\n") == 1


def test_current(store, run_kctx):
    assert run_kctx("current").returncode == 1
    r = bash("kctx use beta-prod -n web && kctx current && kctx current -o json")
    assert r.returncode == 0, r.stderr
    first, rest = r.stdout.split("\n", 1)
    assert first == "beta-prod"
    doc = json.loads(rest)
    assert doc["entry"] == "beta-prod" and doc["namespace"] == "web" and doc["tier"] == "prod"
    assert doc["server"] == store["beta-prod"].url
    assert session.is_session(doc["session"])
    # beta-prod is protected: the API guard fronts it and KUBECONFIG is the session alone.
    assert doc["kubeconfig"] == doc["session"] and doc["guard"]["status"] == "active"
    r = bash("kctx use alpha && kctx off && kctx current -o json")
    assert r.returncode == 1 and r.stdout.strip() == "null"


def test_exec_runs_one_command_against_another_entry(store, run_kctx):
    r = bash("kctx use alpha && kctx exec beta-prod -- sh -c 'printf \"%s %s %s\" \"$KCTX_CONTEXT\" "
             "\"$KCTX_NAMESPACE\" \"$KUBECONFIG\"'; echo; printf '%s' \"$KCTX_CONTEXT\"")
    assert r.returncode == 0, r.stderr
    line, after = r.stdout.split("\n")
    ctx, ns, kc = line.split(" ")
    assert (ctx, ns, after) == ("beta-prod", "team-b", "alpha")
    assert session.is_session(kc) and ":" not in kc  # beta-prod is protected: the guard's session alone
    assert not os.path.exists(kc.split(":")[0])  # the temporary session is gone
    b = store["beta-prod"]
    r = run_kctx("exec", "beta-prod", "-n", "ops", "--", "kubectl", "get", "pods")
    assert r.returncode == 0, r.stderr
    assert [q.path for q in b.requests if q.path.endswith("/pods")] == ["/api/v1/namespaces/ops/pods"]
    assert run_kctx("exec", "alpha", "--", "sh", "-c", "exit 7").returncode == 7
    r = run_kctx("exec", "alpha", "--", "no-such-command-kctx")
    assert r.returncode == 127 and "Traceback" not in r.stderr
    assert run_kctx("exec", "nope", "--", "true").returncode == 1
    assert os.listdir(paths.sessions_dir()) in ([".swept"], [])



def test_exec_with_a_pattern_runs_once_per_matching_entry(store, run_kctx):
    # Each run under its own session: the protected one behind its API guard, which refuses the write.
    r = run_kctx("exec", "*", "--", "kubectl", "delete", "pod", "web-1")
    assert r.returncode == 1
    assert [q.path for q in store["alpha"].writes()] == ["/api/v1/namespaces/default/pods/web-1"]
    assert store["beta-prod"].writes() == []
    lines = r.stderr.splitlines()
    assert lines[0] == "==> alpha <==" and "==> beta-prod <==" in lines
    assert any("kctx: beta-prod is protected" in line for line in lines)
    assert lines[-1] == "kctx exec: 1 of 2 failed: beta-prod (exit 1)"
    # Piped stdin is given to every run, not only the first.
    r = run_kctx("exec", "*", "--", "sh", "-c", 'printf "%s %s %s\\n" "$(cat)" "$KCTX_CONTEXT" "$KCTX_NAMESPACE"',
                 input="manifest")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "manifest alpha default\nmanifest beta-prod team-b\n"
    r = run_kctx("exec", "--fail-fast", "-n", "ops", "*", "--", "sh", "-c", 'echo "$KCTX_CONTEXT:$KCTX_NAMESPACE"; exit 4')
    assert r.returncode == 4 and r.stdout == "alpha:ops\n"
    assert "kctx exec: stopped after alpha (exit 4); 1 not run: beta-prod" in r.stderr
    r = run_kctx("exec", "beta-*", "--", "sh", "-c", 'echo "$KCTX_CONTEXT"')
    assert (r.returncode, r.stdout, r.stderr) == (0, "beta-prod\n", "==> beta-prod <==\n")
    r = run_kctx("exec", "gamma*", "--", "true")
    assert r.returncode == 1 and r.stderr == "kctx: no entry matches 'gamma*' ('kctx list' shows the entries)\n"
    assert os.listdir(paths.sessions_dir()) in ([".swept"], [])


def test_exec_in_parallel_writes_each_line_after_its_entry(store, run_kctx):
    script = 'printf "%s\\n" "$(cat)"; echo "to stderr" >&2; [ "$KCTX_CONTEXT" = alpha ] || exit 3; printf "no newline"'
    r = run_kctx("exec", "-P", "2", "*", "--", "sh", "-c", script, input="manifest")
    assert r.returncode == 3
    assert sorted(r.stdout.splitlines()) == ["alpha     | manifest", "alpha     | no newline", "beta-prod | manifest"]
    assert "alpha     | to stderr" in r.stderr.splitlines() and "beta-prod | to stderr" in r.stderr.splitlines()
    assert r.stderr.splitlines()[-1] == "kctx exec: 1 of 2 failed: beta-prod (exit 3)"
    r = run_kctx("exec", "-P", "2", "*", "--", "no-such-command-kctx")
    assert r.returncode == 127 and "alpha     | kctx: no-such-command-kctx: command not found" in r.stderr
    assert "Traceback" not in r.stderr
    assert run_kctx("exec", "-P", "0", "*", "--", "true").returncode == 1
    assert os.listdir(paths.sessions_dir()) in ([".swept"], [])


def test_exec_in_parallel_never_asks_so_k_refuses_the_protected_change(store):
    import pexpect

    # In a terminal, one run at a time could ask there; runs side by side have no terminal, so
    # k refuses the protected entry's change instead of asking, and the other entry's goes through.
    child = pexpect.spawn(str(VENV_BIN / "kctx"), ["exec", "-P", "2", "*", "--", str(VENV_BIN / "k"), "delete",
                                                   "pod", "web-1"], env=dict(os.environ), encoding="utf-8",
                          timeout=60)
    out = child.read()
    child.close()
    assert child.exitstatus == 4, out
    assert "beta-prod | k: refused" in out and "no terminal to ask on" in out and "type beta-prod" not in out
    assert [q.method for q in store["alpha"].writes()] == ["DELETE"]
    assert store["beta-prod"].writes() == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_an_exec_over_many_entries(store, jobs):
    import pexpect

    child = pexpect.spawn(str(VENV_BIN / "kctx"), ["exec", "-P", jobs, "*", "--", "sh", "-c",
                                                   'echo "started $KCTX_CONTEXT"; sleep 30'],
                          env=dict(os.environ), encoding="utf-8", timeout=20)
    child.expect("started alpha")
    t = time.monotonic()
    child.sendintr()
    out = child.read()
    child.close()
    assert time.monotonic() - t < 10
    assert child.exitstatus == 130 or child.signalstatus is not None, out
    if jobs == "1":
        assert "started beta-prod" not in out and "1 not run: beta-prod" in out
    assert os.listdir(paths.sessions_dir()) in ([".swept"], [])


def test_ctrl_c_stops_the_runs_in_turn_even_when_the_command_ignores_it(store):
    import pexpect

    # The run that ignores Ctrl-C finishes as it decides (exit 0), but no further run starts;
    # Ctrl-C at any moment of a run (even while it starts) is noted, never an unreported abort.
    child = pexpect.spawn(str(VENV_BIN / "kctx"), ["exec", "*", "--", "sh", "-c",
                                                   "trap '' INT; echo \"started $KCTX_CONTEXT\"; sleep 1"],
                          env=dict(os.environ), encoding="utf-8", timeout=20)
    child.expect("started alpha")
    child.sendintr()
    out = child.read()
    child.close()
    assert child.exitstatus == 130, out
    assert "started beta-prod" not in out and "stopped by Ctrl-C; 1 not run: beta-prod" in out
    assert "aborted" not in out
    assert os.listdir(paths.sessions_dir()) in ([".swept"], [])

def test_prompt_command(store, run_kctx):
    assert run_kctx("prompt").stdout == ""
    r = bash("kctx use beta-prod && kctx prompt --plain && kctx prompt && NO_COLOR=1 kctx prompt")
    plain, ansi, nocolor = r.stdout.split("\n")[:3]
    assert plain == "⎈ beta-prod:team-b guarded" == nocolor  # a protected entry: its API guard is up
    assert ansi == "\x1b[1;31m⎈ beta-prod:team-b\x1b[0m guarded"


def test_off_makes_kubectl_refuse(store, run_kubectl):
    out = run_kubectl("get", "pods", kubeconfig=emitted("off")["KUBECONFIG"])
    assert out.returncode != 0 and "kctx use NAME" in out.stderr
    assert store["alpha"].requests == [] and store["beta-prod"].requests == []


def test_adopt_gives_an_inherited_target_its_own_session(store, run_kctx):
    parent = bash('kctx use alpha -n web && printf "%s" "$KUBECONFIG"').stdout
    r = bash('printf "%s|%s|%s" "$__kctx_session" "$KCTX_CONTEXT" "$KCTX_NAMESPACE"',
             KUBECONFIG=parent, KCTX_CONTEXT="alpha", KCTX_NAMESPACE="web")
    sess, ctx, ns = r.stdout.split("|")
    assert sess and sess != parent.split(":")[0] and (ctx, ns) == ("alpha", "web")
    # an entry that no longer exists: the inheriting shell targets nothing
    r = bash('printf "%s|%s" "$KCTX_CONTEXT" "$KUBECONFIG"', KUBECONFIG=parent, KCTX_CONTEXT="gone")
    ctx, kc = r.stdout.split("|")
    assert ctx == "" and session.is_session(kc)


# -- the fast path --------------------------------------------------------------------------------
def test_use_does_not_import_click_yaml_or_json(store):
    # Only what kctx itself imports counts: site's .pth files may load modules before it starts.
    code = ("import sys; before = set(sys.modules); sys.argv = ['kctx', 'use', 'alpha', '-n', 'web']; "
            "from kctx.main import main; rc = main(); "
            "heavy = {'click', 'yaml', 'json', 'typing', 'dataclasses', 'platformdirs', 'kctx.store'}; "
            "sys.stderr.write(repr(sorted(heavy & (set(sys.modules) - before)))); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **use_env()}, check=False)
    assert r.returncode == 0
    assert r.stderr == "[]"
    assert "export KCTX_NAMESPACE='web'" in r.stdout


def test_use_imports_only_what_the_entry_needs(fake_api, kubeconfig, run_kctx):
    """No team policy: kctx.policy is not imported; no protected entry to compare servers with:
    neither is k's identity code nor the API guard's rules."""
    src = kubeconfig([{"name": "dev-a", "server": fake_api(name="a")}, {"name": "dev-b", "server": fake_api(name="b")}])
    run_kctx("import", str(src), "--tier", "dev", check=True)
    code = ("import sys; before = set(sys.modules); sys.argv = ['kctx', 'use', 'dev-a']; "
            "from kctx.main import main; rc = main(); "
            "unneeded = {'kctx.policy', 'kctx.guard.target', 'kctx.identity', 'kctx.apiguard.rules', 'array'}; "
            "sys.stderr.write(repr(sorted(unneeded & (set(sys.modules) - before)))); sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if k != "KCTX_POLICY"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, **use_env()},
                       check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "[]"
    assert "KCTX_CONTEXT='dev-a'" in r.stdout


def test_fast_path_and_click_emit_the_same_code(store):
    env = {**os.environ, **use_env(KCTX_SESSION="")}
    fast = subprocess.run([VENV_BIN / "kctx", "use", "alpha", "-n", "web"], capture_output=True, text=True, env=env, check=False)
    code = ("import sys; from kctx.cli import run; sys.exit(run(['use', 'alpha', '--namespace', 'web']))")
    slow = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)

    def norm(out: str) -> str:
        return "\n".join(line for line in out.splitlines() if "sessions/" not in line)

    assert fast.returncode == slow.returncode == 0
    assert norm(fast.stdout) == norm(slow.stdout)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize("words,cword", [("kctx use ", 2), ("kctx use be", 2), ("kctx rm alpha ", 3),
                                         ("kctx ns ", 2), ("kctx exec a", 2), ("kctx show ", 2)])
def test_fast_completion_matches_click(store, run_kctx, shell, words, cword):
    bash("kctx use alpha -n history-ns")
    env = {"_KCTX_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    if shell == "fish":
        env["COMP_CWORD"] = words.split(" ")[-1]
    fast = run_kctx(env=env)
    code = "import sys; from kctx.cli import cli; cli(prog_name='kctx')"
    slow = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False)
    assert fast.stdout == slow.stdout
    assert fast.stdout.strip() or words.endswith(("a", "be"))


# -- sweeping -------------------------------------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_sweep_removes_sessions_of_shells_that_are_gone(store, run_kctx):
    folder = paths.sessions_dir()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    dead = os.path.join(folder, f"{_dead_pid()}-abcdef.json")
    live = os.path.join(folder, f"{os.getpid()}-abcdef.json")
    for p in (dead, live, dead + ".unlock", dead + ".k", live + ".k"):
        Path(p).write_text("{}")
    assert sorted(session.sweep()) == sorted([dead, dead + ".unlock", dead + ".k"])
    assert os.path.exists(live + ".k")
    assert os.path.exists(live)
    # at most every SWEEP_EVERY seconds
    Path(dead).write_text("{}")
    run_kctx("use", "alpha", env=use_env())
    assert os.path.exists(dead)
    old = time.time() - session.SWEEP_EVERY - 5
    os.utime(os.path.join(folder, ".swept"), (old, old))
    run_kctx("use", "alpha", env=use_env())
    assert not os.path.exists(dead) and os.path.exists(live)


def test_session_files_of_other_shells_are_never_rewritten(store, run_kctx):
    other = os.path.join(paths.sessions_dir(), f"{os.getppid()}-abcdef.json")
    r = run_kctx("use", "alpha", env=use_env(KCTX_SESSION=other))
    assert r.returncode == 0 and other not in r.stdout
    outside = os.path.join(os.environ["HOME"], f"{os.getpid()}-abcdef.json")
    r = run_kctx("use", "alpha", env=use_env(KCTX_SESSION=outside))
    assert r.returncode == 0 and outside not in r.stdout and not os.path.exists(outside)


# -- unlock state, as `k` reads it ----------------------------------------------------------------
def test_unlock_state(tmp_path):
    path = os.path.join(paths.sessions_dir(), f"{os.getpid()}-abcdef.json")
    session.write(path, session.render("prod", "c", "u", None))
    assert session.unlock_state(path) is None
    until = int(time.time()) + 60
    session.write_unlock(path, "prod", 'https://x:1/"q"', until)
    assert json.loads(Path(path + ".unlock").read_text()) == {"entry": "prod", "server": 'https://x:1/"q"',
                                                              "until": until}
    assert session.unlock_state(path) == {"entry": "prod", "server": 'https://x:1/"q"', "until": until}
    os.chmod(path + ".unlock", 0o644)
    assert session.unlock_state(path) is None
    session.write_unlock(path, "prod", "s", int(time.time()) - 1)
    assert session.unlock_state(path) is None
    Path(path + ".unlock").write_text("garbage")
    os.chmod(path + ".unlock", 0o600)
    assert session.unlock_state(path) is None
    os.unlink(path + ".unlock")
    os.symlink(tmp_path / "elsewhere", path + ".unlock")
    assert session.unlock_state(path) is None
    assert session.unlock_state(None) is None and session.unlock_state("") is None


def test_session_found_from_kubeconfig():
    s = os.path.join(paths.sessions_dir(), "123-abcdef.json")
    assert session.from_kubeconfig(f"{s}:/x/entry.yaml") == s
    assert session.from_kubeconfig("/home/u/.kube/config") is None
    assert session.from_kubeconfig(os.path.join(paths.sessions_dir(), "evil.json")) is None
    assert session.from_kubeconfig("") is None


def test_store_and_session_agree_on_entry_names():
    from kctx.store import valid_name

    for name in ("a", "prod-eu", "a.b_c", "-a", ".a", "a" * 63, "a" * 64, "", "a b", "é", "a/b", "A9"):
        assert session.valid_name(name) == valid_name(name), name
    assert switch.valid_namespace("kube-system") and not switch.valid_namespace("Kube")


def test_the_integration_starts_kctx_without_site(store):
    r = bash('declare -p __kctx_cmd; kctx use alpha && printf "<%s>" "$KCTX_CONTEXT"')
    assert r.returncode == 0, r.stderr
    assert '"-I" [2]="-S"' in r.stdout and r.stdout.endswith("<alpha>")
    r = bash('declare -p __kctx_cmd; kctx use alpha && printf "<%s>" "$KCTX_CONTEXT"',
             KCTX_NO_FAST_START="1")
    assert 'declare -a __kctx_cmd=([0]="kctx")' in r.stdout and r.stdout.endswith("<alpha>")


def test_the_start_command_fails_in_one_line_when_kctx_moved(store):
    from kctx.commands import init

    words = init.start_command()
    import re

    boot = re.sub(r"sys\.path \+= \[.*\]", "sys.path += ['/nonexistent']", words[-1])
    assert boot != words[-1]
    r = subprocess.run([*words[:-1], boot, "use", "alpha"], check=False, capture_output=True, text=True,
                       cwd="/")
    assert r.returncode == 1 and r.stderr.startswith("kctx: cannot start") and r.stderr.count("\n") == 1
