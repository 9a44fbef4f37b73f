"""`kctx init SHELL`: the shell integration, its template (kctx/shell/) filled in.

The template holds all of the shell's text; this fills in the values (quoted by the shell's
Dialect), keeps the sections asked for (--ps1; `kubectl` going through `k`, and k's completion,
when they exist) and appends nothing.
"""

from __future__ import annotations

import os
import shutil
import sys

from kctx import paths
from kctx.commands import table
from kctx.errors import FatalError
from kctx.shell import SHELLS, dialect_of
from kctx.shellcode import NS_SLOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kctx.shell.dialect import Dialect


def init(shell_name: str, ps1: bool = False, kubectl: bool = True) -> int:
    """Print the shell integration for one of SHELLS: its template, filled in."""
    from kctx import config
    from kctx import shellcode as sh_mod

    if shell_name not in SHELLS:
        raise FatalError(f"unsupported shell {shell_name!r}", hint=", ".join(SHELLS), code=2)
    d = dialect_of(shell_name)
    cfg = config.load()
    before, after = sh_mod.warning_parts(cfg, shell_name)
    values = {
        "@SESSIONS_DIR@": d.quote(paths.sessions_dir()),
        "@WARN_PRE@": d.quote(before),
        "@WARN_POST@": d.quote(after),
        "@NS_SLOT@": d.quote(NS_SLOT),
        "@WRITTEN@": d.quote(paths.WRITTEN),  # the suffixes of the files beside a session file
        "@TIERS_STAMP@": d.quote(paths.TIERS_STAMP),
        "@SIBLINGS@": d.words(paths.SESSION_SIBLINGS),
        "@CMD@": d.words(start_command()),
        "@EVALUATED@": d.pattern(table.EVALUATED),  # what `kctx` evaluates
    }
    comp = _kubectl_completion_code(d.kubectl_completion) if kubectl and d.kubectl_completion else ""
    sections = {"ps1": ps1, "kubectl": kubectl, "kubectl-completion": bool(comp),
                "start-last": cfg["shell"]["start"] == "last", "directories": cfg["shell"]["directories"]}
    code = {  # code, not values: never quoted
        "@K_FUNCTION@": _k_code(d) if d.k_template else "",
        "@COMPLETION@": _completion_code(d) if d.click_script else "",
        "@KUBECTL_COMPLETION@": comp,
    }
    sys.stdout.write(fill(paths.shell_template(d.template), values, sections, code))
    return 0


def fill(template: str, values: dict[str, str], sections: dict[str, bool], code: dict[str, str]) -> str:
    """The template with its `# [name]` ... `# [/name]` sections kept or dropped (the marker
    lines go) and every @NAME@ replaced in one pass, so nothing put in is read again."""
    import re

    out: list[str] = []
    dropping: list[str] = []
    for line in template.splitlines(keepends=True):
        mark = line.strip()
        if mark.startswith("# [") and mark.endswith("]"):
            name = mark[3:-1]
            if name.startswith("/"):
                if dropping and dropping[-1] == name[1:]:
                    dropping.pop()
            elif dropping or not sections[name]:
                dropping.append(name)
            continue
        if not dropping:
            out.append(line)
    table = {**values, **code}
    return re.sub(r"@[A-Z_]+@", lambda m: table.get(m[0], m[0]), "".join(out))


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
    fix = (f"{name}: cannot start ({{e}}): kctx is no longer where this shell's integration found it; "
           f"open a new shell (or run kctx init again), or if it is gone, reinstall kctx: {reinstall_hint()}")
    boot = (
        "import sys\n"
        f"sys.path += {folders!r}\n"
        + (f"sys.argv[0] = {own!r}\n" if own else "")
        + "try:\n"
        f"    from {module} import main\n"
        "except Exception as e:\n"
        f"    sys.stderr.write(f{fix + chr(10)!r})\n"
        "    sys.exit(1)\n"
        "sys.exit(main())\n"
    )
    return [py, "-I", "-S", "-c", boot]


def reinstall_hint(prefix: str | None = None) -> str:
    """The command that reinstalls kctx where it is installed (scripts/k and scripts/kctx, which
    cannot import this, say the same)."""
    where = (prefix or sys.prefix).replace("\\", "/")
    if "/pipx/venvs/" in where:
        return "pipx reinstall kctx"
    if "/uv/tools/" in where:
        return "uv tool install --reinstall kctx"
    return "pip install --force-reinstall kctx, with the pip that installed it"


def _k_code(d: Dialect) -> str:
    """The `k` function: reads from the session's note (kctx.guard.fast), else the guard started
    the way kctx is."""
    from kctx.guard import fast

    text = paths.shell_template(d.k_template)
    patterns = {key: d.flags(pats) for key, pats in fast.shell_rules().items()}
    words = d.words(start_command("kctx.guard.main", "k", shutil.which("k") or "k"))
    values = {"@K_CMD@": words, "@K_MAGIC@": d.quote(fast.MAGIC), "@K_NOTE@": d.quote(paths.NOTE),
              "@K_GUARD@": d.quote(paths.GUARD_STATE),
              "@K_TARGET@": patterns["target"],
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


def _completion_code(d: Dialect) -> str:
    from kctx import __version__

    return d.completion(_cached(f"kctx-{__version__}.{d.name}", lambda: _click_source(d.name)))


def _kubectl_completion_code(shell_name: str) -> str:
    """kubectl's own completion script for `shell_name` (for `k`), cached per kubectl binary."""
    real = _real_kubectl()
    if not real:
        return ""
    st = os.stat(real)
    key = f"kubectl-{st.st_ino}-{st.st_mtime_ns}-{st.st_size}.{shell_name}"
    try:
        return _cached(key, lambda: _kubectl_completion(real, shell_name))
    except OSError:
        return ""


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
