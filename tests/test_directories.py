"""A folder's target: with `shell.directories: true`, entering a folder whose .kctx file (there
or in a folder above) names an entry makes the shell target it, as a `kctx use` would; never a
protected entry; a `kctx use` inside holds until the shell enters another folder's file; leaving
changes nothing. Real bash, zsh, fish and nu at their prompts; the hook forks no process."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Sandbox
from pty_shell import SHELLS, PtyShell, require, script_argv, shell_trace

from kctx.commands import switch
from kctx.errors import FatalError

ODD = "it's a $(touch pwned) dir"  # a folder name that must stay a name in every shell


@pytest.fixture
def entries(fake_api, kubeconfig, run_kctx):
    src = kubeconfig([{"name": "dev", "server": fake_api(name="dev"), "namespace": "apps"},
                      {"name": "qa", "server": fake_api(name="qa"), "namespace": "tests"},
                      {"name": "prod", "server": fake_api(name="prod"), "namespace": "payments"}])
    run_kctx("import", str(src), check=True)


def directories_on() -> None:
    Sandbox.write_config("shell:\n  directories: true\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """proj (dev), proj/ODD (qa, namespace web) with a folder below it, prodproj (prod), bad (no
    such entry), plain (no file)."""
    root = tmp_path / "tree"
    (root / "proj" / ODD / "deeper").mkdir(parents=True)
    (root / "proj" / ".kctx").write_text("dev\n")
    (root / "proj" / ODD / ".kctx").write_text("# the QA cluster, web team\nentry: qa\nnamespace: web\n")
    (root / "prodproj").mkdir()
    (root / "prodproj" / ".kctx").write_text("prod\n")
    (root / "bad").mkdir()
    (root / "bad" / ".kctx").write_text("$(touch pwned)\n")
    (root / "plain").mkdir()
    return root


def cd(shell: str, path: Path | str) -> str:
    path = str(path)
    if shell == "nu":
        return "cd r#'" + path + "'#"
    if shell == "fish":
        return "cd '" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "cd '" + path.replace("'", "'\\''") + "'"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_folder_chooses_the_target_on_entering_never_a_protected_one(entries, tree, shell):
    directories_on()
    with PtyShell(shell, cwd=str(tree)) as s:
        assert s.var("KCTX_CONTEXT") == ""
        r = s.run(cd(shell, tree / "proj"))
        assert r.status == 0
        assert "this shell now targets dev (apps)" in r.output
        assert s.var("KCTX_CONTEXT") == "dev" and "⎈ dev:apps" in s.run("true").segment

        # the nearest file wins, from any folder below it; its namespace comes along
        r = s.run(cd(shell, tree / "proj" / ODD / "deeper"))
        assert "this shell now targets qa (web)" in r.output, r.output
        assert s.var("KCTX_CONTEXT") == "qa" and s.var("KCTX_NAMESPACE") == "web"
        assert not (tree / "proj" / ODD / "deeper" / "pwned").exists()

        # a kctx use inside the folder holds while the shell stays under the same file
        s.run("kctx use dev")
        r = s.run(cd(shell, tree / "proj" / ODD))
        assert "targets" not in r.output and s.var("KCTX_CONTEXT") == "dev"

        # leaving changes nothing
        r = s.run(cd(shell, tree / "plain"))
        assert r.output.strip() == "" and s.var("KCTX_CONTEXT") == "dev"

        # entering again acts again; `kctx use -` goes back to where the shell was
        r = s.run(cd(shell, tree / "proj" / ODD))
        assert "this shell now targets qa (web)" in r.output
        s.run("kctx use -")
        assert s.var("KCTX_CONTEXT") == "dev"

        # a protected entry: one line, the shell stays where it is, no guard
        r = s.run(cd(shell, tree / "prodproj"))
        assert r.status == 0
        line = [x for x in r.output.splitlines() if x.strip()]
        assert len(line) == 1 and "names prod, which is protected" in line[0], r.output
        assert "this shell stays on dev (kctx use prod)" in line[0]
        assert s.var("KCTX_CONTEXT") == "dev" and s.var("__kctx_guard") == ""

        # a file naming no entry (here shell code): one line, nothing runs, nothing changes
        r = s.run(cd(shell, tree / "bad"))
        assert r.status == 0
        assert "no entry named '$(touch pwned)'" in r.output
        assert s.var("KCTX_CONTEXT") == "dev"
        assert not list(tree.rglob("pwned")) and not (Path.cwd() / "pwned").exists()
        # said once: the same file again says nothing
        r = s.run(cd(shell, tree / "bad"))
        assert r.output.strip() == ""


@pytest.mark.parametrize("shell", SHELLS)
def test_an_inherited_target_holds_in_the_folder_the_shell_starts_in(entries, tree, shell, run_kctx):
    directories_on()
    env = dict(os.environ, KCTX_CONTEXT="dev", KCTX_NAMESPACE="team-x")
    with PtyShell(shell, env=env, cwd=str(tree / "proj" / ODD)) as s:
        assert s.var("KCTX_CONTEXT") == "dev" and s.var("KCTX_NAMESPACE") == "team-x"
        r = s.run(cd(shell, tree / "proj" / ODD / "deeper"))
        assert "targets" not in r.output and s.var("KCTX_CONTEXT") == "dev"
        s.run(cd(shell, tree / "plain"))
        r = s.run(cd(shell, tree / "proj" / ODD))
        assert "this shell now targets qa (web)" in r.output


def test_off_by_default_and_a_bad_setting_is_one_line(entries, tree, run_kctx):
    with PtyShell("bash", cwd=str(tree)) as s:
        r = s.run(cd("bash", tree / "proj"))
        assert r.output.strip() == "" and s.var("KCTX_CONTEXT") == ""
        assert s.run("type __kctx_dir_find").status != 0
    out = run_kctx("init", "bash", check=True).stdout
    assert ".kctx" not in out
    Sandbox.write_config("shell:\n  directories: sometimes\n")
    r = run_kctx("list")
    assert r.returncode == 1
    assert r.stderr.strip().endswith("shell.directories: expected true or false (see 'Configuration' in the README)")


def test_the_setting_turned_off_later_leaves_the_folder_alone(entries, tree):
    directories_on()
    with PtyShell("bash", cwd=str(tree)) as s:
        Sandbox.write_config("shell:\n  directories: false\n")
        r = s.run(cd("bash", tree / "proj"))
        assert r.status == 0 and r.output.strip() == "" and s.var("KCTX_CONTEXT") == ""


@pytest.mark.parametrize("text, error", [
    ("", "names no entry"),
    ("entry: [a, b]\n", "names no entry"),
    ("- dev\n", "names no entry"),
    ("entry: dev\nnamespace: Bad_NS\n", "invalid namespace 'Bad_NS'"),
    ("entry: dev\nnamespace: 0123\n", "namespace 83 is not text"),
    ("entry: dev\ncluster: x\n", "unknown key 'cluster'"),
    ("entry: {\n", "not an entry name nor a YAML mapping"),
    ("x" * 5000, "larger than 4096 bytes"),
])
def test_bad_files_are_one_line_naming_the_file(tmp_path, text, error):
    f = tmp_path / ".kctx"
    f.write_text(text)
    with pytest.raises(FatalError) as e:
        switch._read_dir_file(str(f), "F")
    assert e.value.message.startswith("F: ") and error in e.value.message
    f.write_bytes(b"\xff\xfe")
    with pytest.raises(FatalError, match="not an entry name"):
        switch._read_dir_file(str(f), "F")


def test_good_files(tmp_path):
    f = tmp_path / ".kctx"
    f.write_text("dev  # mine\n")
    assert switch._read_dir_file(str(f), "F") == ("dev", None)
    f.write_text("entry: arn:aws:eks:eu-west-1:1:cluster/qa\nnamespace: web\n")
    assert switch._read_dir_file(str(f), "F") == ("arn:aws:eks:eu-west-1:1:cluster/qa", "web")


@pytest.mark.parametrize("shell", SHELLS)
def test_the_hook_forks_nothing_while_the_folder_file_stays_the_same(entries, tree, shell, tmp_path):
    """The hook walks up from the new folder with builtins only; kctx runs only when the file it
    finds is another one."""
    require(shell)
    if not shutil.which("strace") or subprocess.run(["strace", "-o", "/dev/null", "true"], check=False).returncode:
        pytest.skip("strace is not usable here")
    directories_on()
    start, end, log = tmp_path / "START", tmp_path / "END", tmp_path / "strace.log"
    proj, below, plain = tree / "proj", tree / "proj" / ODD / "deeper", tree / "plain"
    (tree / "proj" / ODD / ".kctx").unlink()  # one file for the whole tree
    if shell == "nu":
        init = tmp_path / "kctx.nu"
        init.write_text(subprocess.run([shutil.which("kctx"), "init", "nu", "--no-kubectl"],
                                       capture_output=True, text=True, check=True).stdout)
        steps = "; ".join(f"cd r#'{d}'#; __kctx_hook" for d in (proj / ODD, below, proj, plain, plain))
        script = (f"source {init}; cd r#'{proj}'#; __kctx_hook; '' | save -f {start}; {steps}; "
                  f"'' | save -f {end}; print $env.KCTX_CONTEXT")
    else:
        q = (lambda p: cd("fish", p)) if shell == "fish" else (lambda p: cd("bash", p))
        hook = "__kctx_hook"
        steps = "; ".join(f"{q(d)}; {hook}" for d in (proj / ODD, below, proj, plain, plain))
        if shell == "fish":
            script = (f"kctx init fish --no-kubectl | source; {q(proj)}; {hook}; true > {start}; {steps}; "
                      f"true > {end}; echo $KCTX_CONTEXT")
        else:
            script = (f'eval "$(kctx init {shell} --no-kubectl)"; {q(proj)}; {hook}; : > {start}; {steps}; '
                      f': > {end}; echo "$KCTX_CONTEXT"')
    r = subprocess.run(["strace", "-f", "-e", "trace=clone,clone3,fork,vfork,execve,openat,open,newfstatat,stat,lstat,statx",
                        "-o", str(log), *script_argv(shell, script)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("dev"), r.stdout + r.stderr
    between, forks = shell_trace(log.read_text().splitlines(), str(start), str(end))
    assert any(".kctx" in line for line in between), "the hook did not look for the folder's file"
    assert forks == []
