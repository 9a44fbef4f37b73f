"""The prompt segment: rendering per shell, colours, NO_COLOR, configuration, hostile names in
real shells (bash, zsh, fish, nushell), and a hook that never forks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pty_shell import SHELLS, PtyShell, require, script_argv, shell_trace

from kctx import config, paths, shellcode
from kctx.shellcode import NS_SLOT


# -- rendering ------------------------------------------------------------------------------------
def test_segment_per_shell(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    cfg = config.load()
    assert shellcode.segment(cfg, "bash", "prod", "web", "prod") == "\x01\x1b[1;31m\x02⎈ prod:web\x01\x1b[0m\x02"
    assert shellcode.segment(cfg, "zsh", "prod", "web", "prod") == "%{\x1b[1;31m%}⎈ prod:web%{\x1b[0m%}"
    assert shellcode.segment(cfg, "fish", "dev", "web", "dev") == "\x1b[32m⎈ dev:web\x1b[0m"
    assert shellcode.segment(cfg, "plain", "dev", "web", "dev") == "⎈ dev:web"
    assert shellcode.segment(cfg, "zsh", "a", "100%", "none").count("100%%") == 1
    assert shellcode.segment(cfg, "bash", "a", "x\ny\x1b", "none").count("x\\ny\\x1b") == 1
    tmpl = shellcode.segment(cfg, "bash", "prod", NS_SLOT, "prod")
    assert tmpl.replace(NS_SLOT, "web") == shellcode.segment(cfg, "bash", "prod", "web", "prod")
    monkeypatch.setenv("NO_COLOR", "1")
    assert shellcode.segment(cfg, "bash", "prod", "web", "prod") == "⎈ prod:web"
    assert shellcode.warning_parts(cfg, "zsh") == ("⎈ ⚠ ", "")


def test_quoting_round_trips_through_every_shell(tmp_path):
    values = ["plain", "a b", "it's", "$(touch x)", "`touch x`", "a;b", "back\\slash", "\\'", "%F{red}",
              "new\nline", "ünï", "-n", "", "\x01\x1b[31m\x02", "$HOME", "!!", "*"]
    for shell in SHELLS:
        if not shutil.which(shell):
            continue
        code = shellcode.Code(shell)
        for i, v in enumerate(values):
            code.set(f"v{i}", v)
        if shell == "nu":
            # the record kctx prints, applied by the integration; and nu's own literals
            init = tmp_path / "kctx.nu"
            init.write_text(subprocess.run([shutil.which("kctx"), "init", "nu", "--no-kubectl"],
                                           capture_output=True, text=True, check=True).stdout)
            literals = "".join(f"$env.q{i} = {shellcode.quote('nu', v)}\n" for i, v in enumerate(values))
            names = " ".join(f"$env.v{i}" for i in range(len(values)))
            names += " " + " ".join(f"$env.q{i}" for i in range(len(values)))
            script = (f"source {init}\n__kctx_apply ({shellcode.quote('nu', code.text())} | from json)\n"
                      f"{literals}print -n ([{names}] | each {{|v| $v + (char nul) }} | str join)\n")
            out = subprocess.run(["nu", "-n", "-c", script], capture_output=True, cwd=tmp_path, check=False)
            assert out.returncode == 0, (shell, out.stderr)
            assert out.stdout.decode().split("\0")[:-1] == values + values, shell
            assert not (tmp_path / "x").exists()
            continue
        printer = "".join(f"printf '%s\\0' \"$v{i}\"; " for i in range(len(values)))
        out = subprocess.run(script_argv(shell, code.text() + printer), capture_output=True, cwd=tmp_path, check=False)
        assert out.returncode == 0, (shell, out.stderr)
        assert out.stdout.decode().split("\0")[:-1] == values, shell
        assert not (tmp_path / "x").exists()


# -- configuration and hostile text in real prompts -----------------------------------------------
HOSTILE_CONTEXTS = ["$(touch x)", "`touch x`", "a;touch x", "it's", "%F{red}", "a b", "..",
                    "../../etc/passwd", "ünïcødé", "-leading", "back\\u"]
HOSTILE_NAMESPACES = ["$(touch x)", "`touch x`", "it's", "%F{red}%", "a b", "\\u\\w",
                      "ünï", "new\nline"]


@pytest.fixture
def hostile(fake_api, kubeconfig, run_kctx, tmp_path):
    api = fake_api(name="hostile")
    specs = []
    for i, name in enumerate(HOSTILE_CONTEXTS):
        spec = {"name": name, "server": api, "cluster": f"c {name}", "user": f"u {name} $(touch x)"}
        if i < len(HOSTILE_NAMESPACES):
            spec["namespace"] = HOSTILE_NAMESPACES[i]
        specs.append(spec)
    src = kubeconfig(specs, name="downloaded.yaml")
    before = src.read_bytes()
    r = run_kctx("import", str(src), "-o", "json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    import json

    report = json.loads(r.stdout)
    renamed = {x["context"]: x["entry"] for x in report["renamed"]}
    entries = {}
    for i, name in enumerate(HOSTILE_CONTEXTS):
        entries[renamed.get(name, name)] = HOSTILE_NAMESPACES[i] if i < len(HOSTILE_NAMESPACES) else "default"
    assert src.read_bytes() == before
    listing = run_kctx("list")
    assert listing.returncode == 0 and "Traceback" not in listing.stderr
    return entries


def _tree(root: Path, skip: Path) -> set[str]:
    out = set()
    for folder, dirs, files in os.walk(root):
        if Path(folder) == skip or skip in Path(folder).parents:
            continue
        for f in files:
            out.add(os.path.relpath(os.path.join(folder, f), root))
    return out


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_names_and_namespaces_in_real_prompts(shell, hostile, tmp_path, sandbox):
    require(shell)
    work = tmp_path / "work"
    work.mkdir()
    before = _tree(tmp_path, sandbox.kctx_home)
    with PtyShell(shell, cwd=str(work)) as sh:
        for entry, ns in hostile.items():
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", entry)
            r = sh.run(f"kctx use {entry}")
            assert r.status == 0 and "Traceback" not in r.output, (entry, r.output)
            assert r.segment == f"⎈ {entry}:{shellcode.visible(ns)} ", (entry, r.segment)
            if "\n" not in ns:
                assert sh.var("KCTX_NAMESPACE") == ns
            assert sh.var("KCTX_CONTEXT") == entry
        for bad in ("'%F{red}'", "'`touch x`'", "'$(touch x)'", "'a b'"):
            r = sh.run(f"kubectl config set-context --current --namespace={bad}")
            assert "⚠" in r.segment and "namespace" in r.segment, (bad, r.segment)
            sh.run(f"kctx use {entry}")
        assert sh.run("kctx list").status == 0
    assert list(work.iterdir()) == []
    after = _tree(tmp_path, sandbox.kctx_home)
    # only kubectl's discovery cache and the shell's own state may appear outside the store
    assert {p for p in after - before
            if "/.kube/cache/" not in "/" + p and "fish" not in p} == set()
    entries_dir = Path(paths.entries_dir())
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.yaml", p.name) for p in entries_dir.iterdir())


@pytest.mark.parametrize("shell", SHELLS)
def test_configured_symbol_and_format_are_shown_literally(shell, fake_api, kubeconfig, run_kctx, tmp_path):
    require(shell)
    cfg_file = Path(paths.config_file())
    cfg_file.parent.mkdir(parents=True, exist_ok=True)
    cfg_file.write_text("prompt:\n  symbol: '%F{red}$(touch z)\\u '\n  format: '[{tier}] {symbol}{entry}/{namespace}'\n"
                        "tiers:\n  qa: {color: '#ff8800', protected: false}\n")
    src = kubeconfig([{"name": "qa1", "server": fake_api()}])
    run_kctx("import", str(src), "--tier", "qa", check=True)
    with PtyShell(shell, cwd=str(tmp_path)) as sh:
        r = sh.run("kctx use qa1")
        assert r.segment == "[qa] %F{red}$(touch z)\\u qa1/default "
        assert "\x1b[38;2;255;136;0m" in r.prompt
    assert not (tmp_path / "z").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_no_color(shell, fake_api, kubeconfig, run_kctx):
    require(shell)
    src = kubeconfig([{"name": "prod", "server": fake_api()}])
    run_kctx("import", str(src), check=True)
    with PtyShell(shell, env={**os.environ, "NO_COLOR": "1"}) as sh:
        r = sh.run("kctx use prod")
        assert r.prompt == "⎈ prod:default guarded "  # a protected entry: its API guard is up
        r = sh.export("KUBECONFIG", "/elsewhere")
        assert r.prompt == "⎈ ⚠ KUBECONFIG changed "


# -- the hook never forks -------------------------------------------------------------------------
@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("state", ["steady", "drift", "kubeconfig", "off", "guard down"])
def test_the_prompt_hook_does_not_fork(shell, state, fake_api, kubeconfig, run_kctx, tmp_path):
    """strace the shell while it runs its prompt hook: no clone, fork, vfork or execve."""
    require(shell)
    if not shutil.which("strace") or subprocess.run(["strace", "-o", "/dev/null", "true"], check=False).returncode:
        pytest.skip("strace is not usable here")
    src = kubeconfig([{"name": "prod", "server": fake_api()}])
    run_kctx("import", str(src), check=True)
    start, end = tmp_path / "START", tmp_path / "END"
    prepare = {
        "steady": "true",
        "drift": "kubectl config set-context --current --namespace=moved >/dev/null",
        "kubeconfig": "KUBECONFIG=/elsewhere",
        "off": "kctx off",
        # the API guard of this protected shell killed: the hook shows "guard down" instead
        "guard down": 'read -r g _ <"$__kctx_session.guard"; kill -9 "$g"; sleep 0.3',
    }[state]
    hook = {"bash": "__kctx_hook", "zsh": "__kctx_hook", "fish": "__kctx_refresh; kctx_prompt >/dev/null",
            "nu": "__kctx_hook; kctx_prompt | ignore"}[shell]
    if shell == "nu":
        # nu cannot load the integration and use it in one parse: save it first (outside strace)
        init = tmp_path / "kctx.nu"
        init.write_text(subprocess.run([shutil.which("kctx"), "init", "nu", "--no-kubectl"],
                                       capture_output=True, text=True, check=True).stdout)
        prepare = {"steady": "null",
                   "drift": "^kubectl config set-context --current --namespace=moved | ignore",
                   "kubeconfig": "$env.KUBECONFIG = '/elsewhere'", "off": "kctx off",
                   "guard down": ("kill -s 9 (open --raw $\"($env.__kctx.session).guard\" | split row ' ' | first"
                                  " | into int); sleep 300ms")}[state]
        script = (f"source {init}; kctx use prod; {prepare}; '' | save -f {start}; "
                  f"for i in 1..10 {{ {hook} }}; '' | save -f {end}")
    elif shell == "fish":
        prepare = prepare.replace("KUBECONFIG=/elsewhere", "set -gx KUBECONFIG /elsewhere").replace(
            'read -r g _ <"$__kctx_session.guard"; kill -9 "$g"',
            'read g rest <"$__kctx_session.guard"; kill -9 $g')
        script = (f"kctx init fish --no-kubectl | source; kctx use prod; {prepare}; true > {start}; "
                  f"for i in 1 2 3 4 5 6 7 8 9 10; {hook}; end; true > {end}")
    else:
        script = (f'eval "$(kctx init {shell} --no-kubectl)"; kctx use prod; {prepare}; : > {start}; '
                  f"for i in 1 2 3 4 5 6 7 8 9 10; do {hook}; done; : > {end}")
    log = tmp_path / "strace.log"
    # (the stat calls too: while the session file is older than its stamp, bash and zsh compare
    # the two dates instead of reading it)
    r = subprocess.run(["strace", "-f", "-e", "trace=clone,clone3,fork,vfork,execve,openat,open,stat,newfstatat,statx",
                        "-o", str(log), *script_argv(shell, script)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    # A clone with CLONE_THREAD is a thread (fish's I/O helper for command substitutions, nu's
    # evaluator), not a process.
    between, forks = shell_trace(log.read_text().splitlines(), str(start), str(end))
    assert state == "kubeconfig" or any(".json" in line for line in between), "the hook did not look at the session file"
    assert forks == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_a_steady_hook_compares_dates_and_a_rewrite_is_still_seen(shell, fake_api, kubeconfig, run_kctx, tmp_path):
    """bash, zsh and fish: while the session file is older than its stamp (<session>.written, dated just
    after kctx wrote it), the hook does not open it; kubectl's rewrite right after is still seen."""
    require(shell)
    if not shutil.which("strace") or subprocess.run(["strace", "-o", "/dev/null", "true"], check=False).returncode:
        pytest.skip("strace is not usable here")
    src = kubeconfig([{"name": "qa", "server": fake_api(), "namespace": "web"}])
    run_kctx("import", str(src), "--tier", "dev", check=True)  # not protected: no API guard
    start, end, log = tmp_path / "START", tmp_path / "END", tmp_path / "strace.log"
    script = (f'eval "$(kctx init {shell} --no-kubectl)"; kctx use qa; : > {start}; '
              f"for i in 1 2 3; do __kctx_hook; done; : > {end}; "
              'kubectl config set-context --current --namespace=moved >/dev/null; __kctx_hook; '
              'printf "%s|%s\n" "$KCTX_PS1" "$KCTX_NAMESPACE"')
    if shell == "fish":
        script = (f"kctx init fish --no-kubectl | source; kctx use qa; true > {start}; "
                  f"for i in 1 2 3; __kctx_refresh; end; true > {end}; "
                  "kubectl config set-context --current --namespace=moved >/dev/null; __kctx_refresh; "
                  'printf "%s|%s\\n" "$KCTX_PS1" "$KCTX_NAMESPACE"')
    r = subprocess.run(["strace", "-f", "-e", "trace=openat,open,newfstatat,stat,statx", "-o", str(log),
                        *script_argv(shell, script)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    between, _ = shell_trace(log.read_text().splitlines(), str(start), str(end))
    session_file = next(line for line in between if ".written" in line).split('"')[1].removesuffix(".written")
    assert not [line for line in between if "open" in line and session_file + '"' in line]
    assert r.stdout.strip().endswith("|moved"), r.stdout
    assert ":moved" in r.stdout


def test_skew_marker_from_the_versions_code(monkeypatch):
    import kctx.kubectl.choice
    from kctx.commands import switch

    monkeypatch.setattr(kctx.kubectl.choice, "skew_marker", lambda rec, name=None: "⚠", raising=False)
    assert switch._skew("prod", {}, "zsh") == " ⚠skew"
    monkeypatch.setattr(kctx.kubectl.choice, "skew_marker", lambda rec, name=None: "", raising=False)
    assert switch._skew("prod", {}, "bash") == ""

    def broken(rec, name=None):
        raise RuntimeError

    monkeypatch.setattr(kctx.kubectl.choice, "skew_marker", broken, raising=False)
    assert switch._skew("prod", {}, "bash") == ""
