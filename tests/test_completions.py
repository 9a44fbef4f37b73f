"""completions/ matches the click app, and entry names, tiers and namespaces complete from the store."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "completions"))
import generate

BIN = str(Path(sys.executable).parent)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KCTX_HOME", str(tmp_path / "kctx-home"))
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ["PATH"])


@pytest.mark.parametrize("shell,name", generate.SHELLS.items())
def test_completion_files_are_current(shell, name):
    assert (ROOT / "completions" / name).read_text() == generate.generate(shell), (
        "completions/ is stale: run python completions/generate.py"
    )


def _store(tmp_path):
    src = tmp_path / "kc.yaml"
    src.write_text(
        "clusters: [{name: c, cluster: {server: 'https://c'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts:\n"
        "- {name: prod-eu, context: {cluster: c, user: u, namespace: payments}}\n"
        "- {name: prod-us, context: {cluster: c, user: u}}\n"
        "- {name: dev, context: {cluster: c, user: u}}\n"
    )
    subprocess.run([f"{BIN}/kctx", "import", str(src)], check=True, capture_output=True)


def bash_complete(line: str) -> list[str]:
    """Complete `line` in a real bash with the generated script, as pressing Tab would."""
    script = (
        f"source {ROOT / 'completions' / 'kctx.bash'}\n"
        f"COMP_LINE={line!r}; read -ra COMP_WORDS <<< \"$COMP_LINE\"\n"
        "[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')\n"
        "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
        "_kctx_completion kctx\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, check=False)
    return [w for w in out.stdout.splitlines() if w]


def test_entry_names_complete_dynamically(tmp_path):
    _store(tmp_path)
    assert bash_complete("kctx show prod") == ["prod-eu", "prod-us"]
    assert bash_complete("kctx rm ") == ["dev", "prod-eu", "prod-us"]


def test_tiers_complete(tmp_path):
    _store(tmp_path)
    assert bash_complete("kctx tier dev st") == ["staging"]
    assert set(bash_complete("kctx tier dev ")) >= {"prod", "staging", "dev", "none"}


def test_subcommands_complete():
    assert {"import", "list", "show", "tier", "rm", "rename"} <= set(bash_complete("kctx "))


def test_entry_completion_shows_the_tier_in_force(tmp_path, monkeypatch):
    """A team policy's tier, not only the personal one, is what Tab shows beside the name."""
    _store(tmp_path)
    policy = tmp_path / "team.yaml"
    policy.write_text("rules:\n  - {tier: prod, match: {entry: dev}}\n")

    def zsh_items(env_extra):
        env = {**os.environ, "_KCTX_COMPLETE": "zsh_complete", "COMP_WORDS": "kctx use ", "COMP_CWORD": "2",
               **env_extra}
        out = subprocess.run([f"{BIN}/kctx"], env=env, capture_output=True, text=True, check=True).stdout
        lines = out.splitlines()
        return {lines[i + 1]: lines[i + 2] for i in range(0, len(lines) - 2, 3) if lines[i] == "plain"}

    assert zsh_items({})["dev"] == "dev"
    assert zsh_items({"KCTX_POLICY": str(policy)})["dev"] == "prod"
    assert zsh_items({"KCTX_POLICY": str(policy)})["prod-eu"] == "prod"
