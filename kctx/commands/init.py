"""`kctx init SHELL`: the shell integration (its template, completion, `k` for kubectl, --ps1)."""

from __future__ import annotations

import os
import sys

from kctx import paths
from kctx.errors import FatalError
from kctx.shellcode import NS_SLOT, SHELLS, quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def init(shell_name: str, ps1: bool = False, kubectl: bool = True) -> int:
    """Print the shell integration for bash, zsh or fish."""
    from kctx import config
    from kctx import shellcode as sh_mod

    if shell_name not in SHELLS:
        raise FatalError(f"unsupported shell {shell_name!r}", hint="bash, zsh or fish", code=2)
    cfg = config.load()
    before, after = sh_mod.warning_parts(cfg, shell_name)
    ext = {"bash": "bash", "zsh": "zsh", "fish": "fish"}[shell_name]
    text = paths.shell_template(f"kctx.{ext}")
    values = {
        "@SESSIONS_DIR@": paths.sessions_dir(),
        "@WARN_PRE@": before,
        "@WARN_POST@": after,
        "@NS_SLOT@": NS_SLOT,
    }
    for key, value in values.items():
        text = text.replace(key, quote(shell_name, value))
    words = " ".join(quote(shell_name, w) for w in start_command())
    text = text.replace("@CMD@", words if shell_name == "fish" else f"({words})")
    parts = [text, _k_code(shell_name), _completion_code(shell_name)]
    if kubectl:
        parts.append(_kubectl_code(shell_name))
    if ps1:
        parts.append(_ps1_code(shell_name))
    parts.append("__kctx_adopt_if_inherited\n")
    sys.stdout.write("\n".join(p for p in parts if p))
    return 0


def start_command(module: str = "kctx.main", name: str = "kctx", own: str | None = None) -> list[str]:
    """How the integration starts kctx (or, with module kctx.guard.main, the guard `k`): this
    Python with -I -S and kctx's folders on sys.path, else the installed command `name`.

    Skipping site (its .pth files) and the `import re` of pip's console-script wrapper saves
    ~13 ms of every `kctx use` on a slow machine. KCTX_NO_FAST_START=1 at init: the command.
    `own`: the installed `k` the guard stands in for (so that it is never taken for kubectl).
    """
    import kctx

    top = os.path.dirname(os.path.dirname(os.path.abspath(kctx.__file__)))
    py = sys.executable
    if os.environ.get("KCTX_NO_FAST_START") or not py or not os.access(py, os.X_OK):
        return [name]
    # kctx's own folder first (an editable install's checkout), then the site folders, last on
    # sys.path so that nothing installed shadows a standard module.
    folders = [top] + [p for p in sys.path if p != top and os.path.basename(p) in ("site-packages", "dist-packages")]
    fix = (f"{name}: cannot start ({{e}}): kctx is no longer where its shell integration found it; "
           "open a new shell or run kctx init again")
    boot = (
        "import sys\n"
        f"sys.path += {folders!r}\n"
        + (f"sys.argv[0] = {own!r}\n" if own else "")
        + "try:\n"
        f"    from {module} import main\n"
        "except ImportError as e:\n"
        f"    sys.exit(f{fix!r})\n"
        "sys.exit(main())\n"
    )
    return [py, "-I", "-S", "-c", boot]


def _k_code(shell_name: str) -> str:
    """The `k` function: reads from the session's note (kctx.guard.fast), else the guard started
    the way kctx is."""
    import shutil

    from kctx.guard import fast

    ext = {"bash": "bash", "zsh": "zsh", "fish": "fish"}[shell_name]
    text = paths.shell_template(f"k.{ext}")
    # Glob patterns of flag names (shell_rules checks them): bare in bash and zsh, where quotes
    # would make `*` literal; fish matches quoted patterns as globs.
    rules = fast.shell_rules()
    if shell_name == "fish":
        patterns = {key: " ".join(quote(shell_name, p) for p in pats) for key, pats in rules.items()}
    else:
        patterns = {key: "|".join(pats) for key, pats in rules.items()}
    words = " ".join(quote(shell_name, w) for w in start_command("kctx.guard.main", "k", shutil.which("k") or "k"))
    values = {"@K_CMD@": words if shell_name == "fish" else f"({words})",
              "@K_MAGIC@": quote(shell_name, fast.MAGIC), "@K_TARGET@": patterns["target"],
              "@K_SKIP@": patterns["skip"], "@K_INLINE@": patterns["inline"]}
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _cached(key: str, make: Any) -> str:
    path = paths.completion_cache_file(key)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        pass
    text = make()
    try:
        from kctx.fsutil import atomic_write

        atomic_write(path, text, mode=0o600, fsync=False)
    except OSError:
        pass
    return text


def _click_source(shell_name: str) -> str:
    """click's completion script for `shell_name`: a template of the program name and its
    variable only, so any command stands in for kctx's own (whose import would run back up)."""
    from click import Command
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell_name)
    assert cls is not None
    return cls(Command("kctx"), {}, "kctx", "_KCTX_COMPLETE").source()


def _completion_code(shell_name: str) -> str:
    from kctx import __version__

    text = _cached(f"kctx-{__version__}.{shell_name}", lambda: _click_source(shell_name))
    if shell_name == "zsh":
        # compdef exists only after compinit; without it the script would print an error.
        return f"if (( $+functions[compdef] )); then\n{text}\nfi\n"
    return text


def _kubectl_code(shell_name: str) -> str:
    """`k` completes like kubectl, and in interactive shells `kubectl` goes through `k`."""
    real = _real_kubectl()
    out = []
    if real:
        st = os.stat(real)
        key = f"kubectl-{st.st_ino}-{st.st_mtime_ns}-{st.st_size}.{shell_name}"
        try:
            comp = _cached(key, lambda: _kubectl_completion(real, shell_name))
        except OSError:
            comp = ""
        if comp:
            if shell_name == "bash":
                out.append(comp + "\ncomplete -o default -F __start_kubectl k\n")
            elif shell_name == "zsh":
                out.append(f"if (( $+functions[compdef] )); then\n{comp}\ncompdef _kubectl k\nfi\n")
            else:
                out.append(comp + "\ncomplete -c k -w kubectl\n")
    # `kubectl` is the integration's `k` function (its fast path), not the k command.
    if shell_name == "bash":
        out.append('if [[ $- == *i* ]]; then function kubectl { k "$@"; }; fi\n')
    elif shell_name == "zsh":
        out.append('if [[ -o interactive ]]; then function kubectl { k "$@"; }; fi\n')
    else:
        out.append("if status is-interactive\n    function kubectl\n"
                   "        k $argv\n    end\nend\n")
    return "".join(out)


def _real_kubectl() -> str | None:
    """The first kubectl on PATH that is not kctx's own wrapper (its completion is loaded for k)."""
    from kctx.kubectl.installed import path_kubectl

    return path_kubectl()


def _kubectl_completion(kubectl: str, shell_name: str) -> str:
    import subprocess

    try:
        proc = subprocess.run([kubectl, "completion", shell_name], capture_output=True, text=True,
                              timeout=20, env={**os.environ, "KCTX_IN_K": "1"}, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout if proc.returncode == 0 else ""


def _ps1_code(shell_name: str) -> str:
    if shell_name == "bash":
        return "[[ ${PS1-} == *'${KCTX_PS1'* ]] || PS1='${KCTX_PS1-}'\"${PS1-}\"\n"
    if shell_name == "zsh":
        return ("\\builtin setopt prompt_subst\n"
                "[[ ${PROMPT-} == *'${KCTX_PS1'* ]] || PROMPT='${KCTX_PS1-}'\"${PROMPT-}\"\n")
    return (
        "if not functions -q __kctx_orig_fish_prompt\n"
        "    functions -q fish_prompt; and functions -c fish_prompt __kctx_orig_fish_prompt\n"
        "    function fish_prompt\n"
        "        kctx_prompt\n"
        "        functions -q __kctx_orig_fish_prompt; and __kctx_orig_fish_prompt\n"
        "    end\n"
        "end\n"
    )
