"""kctx's integration in real bash, zsh, fish and nushell (pexpect), checked with a real kubectl
against recording fake API servers: per-shell targets, namespaces, `-`, off, drift, hooks, exit."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from pty_shell import SHELLS, PtyShell, init_line, require, strip_ansi

from kctx import paths


@pytest.fixture
def store(fake_api, kubeconfig, run_kctx):
    """Two entries on two recording servers: `alpha` (namespace default) and `beta-prod`
    (namespace team-b, tier prod)."""
    a, b = fake_api(name="alpha"), fake_api(name="beta")
    src = kubeconfig([
        {"name": "alpha", "server": a},
        {"name": "beta-prod", "server": b, "namespace": "team-b"},
    ])
    run_kctx("import", str(src), check=True)
    return {"alpha": a, "beta-prod": b, "source": src}


def pod_paths(server) -> list[str]:
    return [r.path for r in server.requests if r.path.endswith("/pods")]


@pytest.mark.parametrize("shell", SHELLS)
def test_two_shells_target_their_own_entries(shell, store):
    a, b = store["alpha"], store["beta-prod"]
    with PtyShell(shell) as one, PtyShell(shell) as two:
        assert one.run("kctx use alpha").status == 0
        r = two.run("kctx use beta-prod")
        assert r.status == 0 and r.segment == "⎈ beta-prod:team-b guarded "  # (its API guard is up)
        assert one.var("KCTX_CONTEXT") == "alpha"
        assert two.var("KCTX_TIER") == "prod"

        assert one.run("kubectl get pods").status == 0
        assert pod_paths(a) == ["/api/v1/namespaces/default/pods"] and pod_paths(b) == []
        assert two.run("kubectl get pods").status == 0
        assert pod_paths(b) == ["/api/v1/namespaces/team-b/pods"]

        # Namespaces are per shell.
        r = one.run("kctx ns payments")
        assert r.status == 0 and r.segment == "⎈ alpha:payments "
        assert one.var("KCTX_NAMESPACE") == "payments"
        a.clear(), b.clear()
        one.run("kubectl get pods")
        two.run("kubectl get pods")
        assert pod_paths(a) == ["/api/v1/namespaces/payments/pods"]
        assert pod_paths(b) == ["/api/v1/namespaces/team-b/pods"]

        # ns - and use - go back to this shell's previous values.
        one.run("kctx ns kube-system")
        r = one.run("kctx ns -")
        assert r.segment == "⎈ alpha:payments " and one.var("KCTX_NAMESPACE") == "payments"
        r = one.run("kctx ns -")
        assert r.segment == "⎈ alpha:kube-system "
        assert one.run("kctx ns").output.strip() == "kube-system"
        one.run("kctx use beta-prod")
        r = one.run("kctx use -")
        assert r.status == 0 and one.var("KCTX_CONTEXT") == "alpha"
        r = one.run("kctx use -")
        assert one.var("KCTX_CONTEXT") == "beta-prod"
        r = one.run("kctx use alpha -n web")
        assert r.segment == "⎈ alpha:web "

        # off: this shell targets nothing and kubectl refuses; the other shell is untouched.
        a.clear(), b.clear()
        r = one.run("kctx off")
        assert r.status == 0 and r.segment == ""
        assert one.var("KCTX_CONTEXT") == ""
        r = one.run("kubectl get pods")
        assert r.status != 0 and "kctx use NAME" in r.output
        assert a.requests == [] and b.requests == []
        assert one.run("kctx current").status == 1
        r = two.run("kubectl get pods")
        assert r.status == 0 and pod_paths(b) == ["/api/v1/namespaces/team-b/pods"]
        lines = two.run("kctx current").output.strip().splitlines()  # stdout and stderr, in some order
        assert "beta-prod" in lines and any("API guard of this shell is active" in line for line in lines)
        r = one.run("kctx use -")
        assert one.var("KCTX_CONTEXT") == "alpha"


@pytest.mark.parametrize("shell", SHELLS)
def test_drift_is_shown_at_the_next_prompt(shell, store, tmp_path):
    a = store["alpha"]
    with PtyShell(shell) as sh:
        sh.run("kctx use alpha")
        r = sh.run("kubectl config set-context --current --namespace=moved")
        assert r.segment == "⎈ alpha:moved "
        assert sh.var("KCTX_NAMESPACE") == "moved"
        a.clear()
        sh.run("kubectl get pods")
        assert pod_paths(a) == ["/api/v1/namespaces/moved/pods"]
        assert sh.run("kctx ns").output.strip() == "moved"
        r = sh.run("kctx ns -")
        assert r.segment == "⎈ alpha:default "

        # Another context made current inside the session: a marker, not the old name.
        sh.run("kubectl config set-context other --cluster=alpha --user=alpha")
        r = sh.run("kubectl config use-context other")
        assert "⚠" in r.segment and "alpha:" not in r.segment
        sh.run("kctx use alpha")

        # A hostile namespace set through kubectl: a marker, nothing runs.
        r = sh.run("kubectl config set-context --current --namespace='$(touch pwned)'")
        assert "⚠" in r.segment and "namespace" in r.segment
        assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
        sh.run("kctx use alpha")

        # KUBECONFIG changed by hand.
        r = sh.export("KUBECONFIG", str(tmp_path / "elsewhere"))
        assert r.segment.startswith("⎈ ⚠ KUBECONFIG changed")
        assert sh.run("kctx current").status == 1
        r = sh.run("kctx use alpha")
        assert r.segment == "⎈ alpha:default "

        # The session file removed, the entry removed.
        session = sh.var("__kctx_session")
        os.unlink(session)
        assert "session file gone" in sh.run("true").segment
        sh.run("kctx use alpha")
        assert sh.run("kctx rm alpha").status == 0
        assert "entry alpha removed" in sh.run("true").segment


@pytest.mark.parametrize("shell", SHELLS)
def test_session_files_private_without_secrets_and_removed_on_exit(shell, store):
    sh = PtyShell(shell)
    sh.run("kctx use beta-prod")
    session = sh.var("__kctx_session")
    # beta-prod is protected: the API guard fronts it, so KUBECONFIG is the session alone, whose
    # only credential is a tokenFile naming the guard's per-session secret (no cluster credential).
    assert sh.var("KUBECONFIG") == session
    st = os.stat(session)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(session)).st_mode) == 0o700
    text = Path(session).read_text()
    assert '"token":' not in text and store["beta-prod"].token not in text
    assert os.path.basename(session).startswith(f"{sh.p.pid}-")
    Path(session + ".k").write_text("the guard's note")
    assert sh.close() == 0
    if shell == "nu":
        # nu has no exit hook: the sweep of the next kctx command removes a gone shell's files
        from kctx import session as sessions

        assert os.path.exists(session)
        sessions.sweep(force=True)
    assert not os.path.exists(session) and not os.path.exists(session + ".k")
    deadline = time.monotonic() + 10  # the guard removes its files once the session is gone
    while os.path.exists(session + ".token") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(session + ".token") and not os.path.exists(session + ".guard")


def test_bash_keeps_an_existing_exit_trap_and_prompt_command(store, tmp_path):
    mark = tmp_path / "bye"
    with PtyShell("bash", init=None) as sh:
        sh.run(f"trap 'echo bye > {mark}' EXIT; mine() {{ :; }}; PROMPT_COMMAND=mine")
        sh.run('eval "$(kctx init bash --no-kubectl)"')
        sh.run('eval "$(kctx init bash --no-kubectl)"')
        assert sh.var("PROMPT_COMMAND") == "__kctx_hook;mine"
        sh.run("kctx use alpha")
        session = sh.var("__kctx_session")
    assert mark.read_text() == "bye\n"
    assert not os.path.exists(session)


def test_bash_prompt_command_array(store):
    with PtyShell("bash", init=None) as sh:
        sh.run("PROMPT_COMMAND=(mine other); mine() { :; }; other() { :; }")
        sh.run('eval "$(kctx init bash --no-kubectl)"')
        sh.run('eval "$(kctx init bash --no-kubectl)"')
        assert sh.value('"${PROMPT_COMMAND[*]}"') == "__kctx_hook mine other"
        assert sh.run("kctx use alpha").segment == "⎈ alpha:default "


@pytest.mark.parametrize("shell", SHELLS)
def test_hooks_registered_once_and_status_kept(shell, store):
    before = {"bash": "mine() { return 0; }; PROMPT_COMMAND='mine'",
              "zsh": "mine() { return 0 }; precmd_functions=(mine)",
              "fish": "function mine --on-event fish_prompt; true; end",
              "nu": "$env.config.hooks.pre_prompt = [{|| $env.MINE = 'ran' }]"}[shell]
    with PtyShell(shell, before_init=before) as sh:
        sh.run(init_line(shell, "--no-kubectl"))
        if shell == "bash":
            assert sh.var("PROMPT_COMMAND") == "__kctx_hook;mine"
        elif shell == "zsh":
            assert sh.value('"${precmd_functions[*]}"') == "__kctx_hook mine"
            assert sh.value('"${zshexit_functions[*]}"') == "__kctx_exit"
        elif shell == "fish":
            handlers = sh.run("functions --handlers-type generic").output
            assert handlers.count("fish_prompt __kctx_hook") == 1 and "fish_prompt mine" in handlers
            assert handlers.count("fish_exit __kctx_exit") == 1
        else:
            hooks = sh.value("$env.config.hooks.pre_prompt | each {|h| view source $h } | str join ';'")
            assert hooks == "{|| __kctx_hook };{|| $env.MINE = 'ran' }"
            assert sh.var("MINE") == "ran"
        sh.run("kctx use alpha")
        assert sh.run("^false" if shell == "nu" else "false").status == 1
        assert sh.run("^true" if shell == "nu" else "true").status == 0
        r = sh.run("(exit 7)" if shell not in ("fish", "nu") else "sh -c 'exit 7'")
        assert r.status == 7 and r.segment == "⎈ alpha:default "


@pytest.mark.parametrize("shell", SHELLS)
def test_ps1_option_prepends_the_segment_once(shell, store):
    with PtyShell(shell, init="--no-kubectl --ps1", segment=False) as sh:
        sh.run(init_line(shell, "--no-kubectl --ps1"))
        r = sh.run("kctx use alpha")
        assert r.prompt == ""
        assert strip_ansi(r.prefix).endswith("⎈ alpha:default ")
        assert strip_ansi(r.prefix).count("⎈") == 1
        if shell == "bash":
            assert sh.var("PS1").count("KCTX_PS1") == 1
        elif shell == "zsh":
            assert sh.var("PROMPT").count("KCTX_PS1") == 1
        r = sh.run("kctx off")
        assert "⎈" not in r.prefix


@pytest.mark.parametrize("shell", SHELLS)
def test_without_the_integration_use_explains_how_to_load_it(shell, store):
    with PtyShell(shell, init=None) as sh:
        r = sh.run("kctx use alpha")
        assert r.status != 0
        assert f"kctx init {shell}" in r.output or "kctx init" in r.output
        assert sh.var("KCTX_CONTEXT") == ""


@pytest.mark.parametrize("shell", SHELLS)
def test_help_through_the_function_goes_to_stderr_and_is_not_evaluated(shell, store, tmp_path):
    with PtyShell(shell) as sh:
        sh.run("kctx use alpha")
        out = tmp_path / "out"
        to = "o>" if shell == "nu" else ">"  # nu's > compares
        r = sh.run(f"kctx use --help {to} {out}")
        assert r.status == 0 and "Usage" in r.output
        assert out.read_text() == ""
        r = sh.run(f"kctx ns --help {to} {out}")
        assert r.status == 0 and out.read_text() == ""
        r = sh.run("kctx use -n")
        assert r.status == 2
        assert sh.var("KCTX_CONTEXT") == "alpha"
        # bad values: one line, no traceback, the shell's target unchanged
        for bad in ("kctx ns 'Bad_NS'", "kctx use 'nope'", "kctx use '../../etc/passwd'",
                    "kctx unlock 5m"):
            r = sh.run(bad)
            assert r.status != 0 and "Traceback" not in r.output, (bad, r.output)
            assert r.output.strip().count("\n") == 0, (bad, r.output)
        assert r.segment == "⎈ alpha:default "


@pytest.mark.parametrize("shell", SHELLS)
def test_child_shell_gets_its_own_session(shell, store):
    with PtyShell(shell) as sh:
        sh.run("kctx use alpha -n parent")
        parent_session = sh.var("__kctx_session")
        parent_text = Path(parent_session).read_text()
        child = {"bash": "bash --norc --noprofile", "zsh": "zsh -f", "fish": "fish --no-config",
                 "nu": "nu -n --no-history"}[shell]
        *load, init = init_line(shell, "--no-kubectl").split("\n")
        show = ("print $\"<C:($env.__kctx?.session? | default ''):($env.KCTX_NAMESPACE)>\"" if shell == "nu"
                else "printf '<C:%s:%s>\\n' \"$__kctx_session\" \"$KCTX_NAMESPACE\"")
        sh.p.sendline(f"{child} -i")
        sh.settle(0.5 if shell != "nu" else 2)
        for line in load:  # nu: save the integration first, source it on the next line
            sh.type_line(line)
            sh.settle(2)
        sh.type_line(init + "; " + show)
        sh.expect(r"<C:([^:>]*):([^>]*)>\r?\n")
        child_session, child_ns = sh.p.match.group(1), sh.p.match.group(2)
        assert child_session and child_session != parent_session and child_ns == "parent"
        sh.p.sendline("kubectl config set-context --current --namespace=child; exit")
        sh._wait()  # the parent's prompt after the child exits
        r = sh.run("true")
        assert Path(parent_session).read_text() == parent_text
        assert r.segment == "⎈ alpha:parent "
        if shell == "nu":  # no exit hook: the next sweep removes the gone child's session
            from kctx import session

            session.sweep(force=True)
        assert not os.path.exists(child_session)


@pytest.mark.parametrize("shell", SHELLS)
def test_unlock_shows_in_the_prompt_until_it_expires(shell, store):
    from kctx import session

    with PtyShell(shell) as sh:
        sh.run("kctx use alpha")
        r = sh.run("kctx unlock 5m")
        assert r.status != 0 and "not protected" in r.output
        sh.run("kctx use beta-prod")
        r = sh.run("kctx unlock 3s")
        assert r.status == 0 and "🔓" in r.segment
        path = sh.var("__kctx_session")
        state = session.unlock_state(path)
        assert state and state["entry"] == "beta-prod" and state["server"] == store["beta-prod"].url
        assert stat.S_IMODE(os.stat(path + ".unlock").st_mode) == 0o600
        if shell == "fish":
            assert "until" in r.segment
        time.sleep(3.2)
        r = sh.run("true")
        assert session.unlock_state(path) is None
        if shell != "fish":  # fish cannot read the clock without forking: it says until when
            assert "🔓" not in r.segment
        sh.run("kctx unlock 10m")
        r = sh.run("kctx lock")
        assert r.status == 0 and "🔓" not in r.segment
        assert not os.path.exists(path + ".unlock")
        sh.run("kctx unlock 10m")
        r = sh.run("kctx use alpha")
        assert "🔓" not in r.segment and not os.path.exists(path + ".unlock")


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_and_the_kubectl_function(shell, store):
    require(shell)
    before = "autoload -Uz compinit && compinit -u -d $HOME/.zcompdump" if shell == "zsh" else None
    with PtyShell(shell, init="", before_init=before) as sh:
        if shell == "bash":
            assert "_kctx_completion" in sh.run("complete -p kctx").output
            assert "__start_kubectl" in sh.run("complete -p k").output
        elif shell == "zsh":
            assert sh.value('"$_comps[kctx]"') == "_kctx_completion"
            assert sh.value('"$_comps[k]"') == "_kubectl"
        elif shell == "fish":
            assert "_kctx_completion" in sh.run("complete -c kctx").output
            assert "kubectl" in sh.run("complete -c k").output
        else:  # nu: the kctx command's own completer (kubectl has no completion script for nu)
            assert sh.value("'kctx use b' | commandline complete | str join ','") == "beta-prod"
            assert sh.value("'kctx ns ' | commandline complete | str join ','") == "default,team-b"
            assert "doctor" in sh.value("'kctx ' | commandline complete | str join ','")
        kind = {"bash": "type -t kubectl", "zsh": "whence -w kubectl", "fish": "type -t kubectl",
                "nu": "scope commands | where name == kubectl | each { 'function' }"}[shell]
        if shutil.which("k"):
            assert "function" in sh.run(kind).output
            sh.run("kctx use alpha")
            r = sh.run("kubectl get pods")
            assert r.status == 0, r.output
            assert [q.path for q in store["alpha"].requests if q.path.endswith("/pods")]
    with PtyShell(shell, init="--no-kubectl") as sh:
        assert "function" not in sh.run(kind).output


def test_use_without_a_name_picks_on_the_terminal(store, tmp_path):
    """A numbered menu on /dev/tty when fzf is not installed."""
    no_fzf = tmp_path / "bin"
    no_fzf.mkdir()
    for tool in ("bash", "kctx"):
        found = shutil.which(tool)
        if found:
            (no_fzf / tool).symlink_to(found)
    env = {**os.environ, "PATH": f"{no_fzf}:/usr/bin:/bin"}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if not shutil.which("fzf", path=p))
    with PtyShell("bash", env=env) as sh:
        sh.p.sendline("kctx use")
        sh.p.expect(r"2\) beta-prod")
        sh.p.expect("entry \\(number or name\\): ")
        sh.p.sendline("2")
        sh._wait()
        assert sh.var("KCTX_CONTEXT") == "beta-prod"


@pytest.mark.skipif(not shutil.which("fzf"), reason="fzf is not installed")
def test_use_without_a_name_picks_with_fzf(store):
    with PtyShell("bash", env={**os.environ, "TERM": "xterm"}) as sh:
        sh.p.sendline("kctx use")
        # fzf asks where the cursor is (ESC [6n): answer like a terminal until it shows the list.
        while sh.p.expect(["\x1b\\[6n", "2/2"]) == 0:
            sh.p.send("\x1b[1;1R")
        sh.p.send("beta")
        time.sleep(0.5)
        sh.p.send("\r")
        sh._wait()
        assert sh.var("KCTX_CONTEXT") == "beta-prod"


def test_use_without_a_name_and_no_terminal_fails(store):
    r = subprocess.run([shutil.which("kctx"), "use"], capture_output=True, text=True, start_new_session=True,
                       stdin=subprocess.DEVNULL, env={**os.environ, "KCTX_SHELL": "bash",
                                                      "KCTX_SHELL_PID": str(os.getpid())}, check=False)
    assert r.returncode == 1 and r.stdout == "" and "no terminal" in r.stderr


def test_unlock_and_lock_are_audited(store):
    from kctx import audit

    with PtyShell("bash") as sh:
        sh.run("kctx use beta-prod")
        sh.run("kctx unlock 10m")
        sh.run("kctx lock")
    records = [r for r in audit.read() if r.get("argv", [None])[0] == "kctx"]
    assert [r["outcome"] for r in records] == ["unlock", "lock"]
    assert records[0]["entry"] == "beta-prod" and records[0]["server"] == store["beta-prod"].url
    assert records[0]["until"] > time.time() + 500
    assert os.stat(paths.audit_file()).st_mode & 0o077 == 0


@pytest.mark.parametrize("shell,options", [("bash", "set -u"), ("zsh", "setopt nounset ksh_arrays sh_word_split")])
def test_strict_user_options_do_not_break_the_integration(shell, options, store):
    with PtyShell(shell, before_init=options) as sh:
        assert sh.run("true").status == 0
        assert sh.run("kctx use alpha").segment == "⎈ alpha:default "
        assert sh.run("kctx ns web").segment == "⎈ alpha:web "
        assert sh.run("kubectl config set-context --current --namespace=x").segment == "⎈ alpha:x "
        r = sh.run("kctx off")
        assert r.status == 0 and r.segment == "" and "parameter not set" not in r.output


@pytest.mark.parametrize("shell", SHELLS)
def test_k_and_kubectl_are_guarded_in_every_shell(shell, store):
    """In a kctx shell of every kind, `k` (the integration's function) and the word `kubectl`
    ask before a change to a protected entry, on the terminal; reads run at once (after the first,
    from the session's note, without Python); exit codes are kubectl's or the guard's."""
    require(shell)
    prod = store["beta-prod"]
    with PtyShell(shell, init="") as sh:
        assert sh.run("kctx use beta-prod").status == 0
        kind = {"bash": "type -t k", "zsh": "whence -w k", "fish": "type -t k",
                "nu": "scope commands | where name == k | get type | to text"}[shell]
        out = sh.run(kind).output
        assert "function" in out or "custom" in out, out
        r = sh.run("k get pods")
        assert r.status == 0, r.output
        assert os.path.exists(sh.var("__kctx_session") + ".k")  # the note: the next reads skip Python
        r = sh.run("k -n kube-system get pods")
        assert r.status == 0, r.output
        assert any(p.endswith("/namespaces/kube-system/pods") for p in pod_paths(prod))
        assert sh.run("k get pods --no-such-flag").status == 1  # kubectl's own exit code
        for word, answer, status in (("k", "no", 5), ("kubectl", "beta-prod", 0)):
            sh.type_line(f"{word} delete pod web-1")
            sh.expect("type beta-prod to continue")
            sh.p.sendline(answer)
            m = sh._wait()
            assert int(m.group(3)) == status, (word, sh.before)
        assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in prod.writes()] == [("DELETE", "web-1")]
