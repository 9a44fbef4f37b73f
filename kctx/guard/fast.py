"""The note that lets the shell's `k` run reads without Python: "<session file>.k".

After a read in a kctx shell, `k` writes down which kubectl it ran, until when the note holds,
which commands are reads (the verb table with the config's guard.ask/allow applied), and the
files that decision depended on. The `k` function of the shell integration (kctx/shell/k.*)
trusts the note only before that time, while it is newer than the session file and every one of
those files, and only for a read named by one word with no flag before it but those in
SKIP_FLAGS, and none anywhere that names another target (TARGET_FLAGS). Everything else goes
through Python, which writes the note again: a read through Python at least every LIFETIME
seconds per shell, so a stale server version is noticed (and refreshed in the background).

`shell_rules()` gives the shell those flag rules as glob patterns, made from the flag table
generated from kubectl's help (cmdtree.py); nothing about kubectl is written by hand in shell.
"""

import os
import time

from kctx import paths
from kctx.fsutil import atomic_write
from kctx.guard.verbs import READ, TABLE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kctx.guard.args import Parsed
else:
    Any = Parsed = object

MAGIC = "kctx-k 2"
LIFETIME = 600  # seconds a note is trusted after Python wrote it
# Flags that send a read elsewhere than the session's target: the note would name another kubectl.
TARGET_FLAGS = ("context", "kubeconfig", "cluster", "server", "user")
# Global flags taking a value that may come before the command word without changing the target.
SKIP_FLAGS = ("namespace", "request-timeout", "v")


def shell_rules() -> dict[str, list[str]]:
    """Glob patterns for the shell's fast path, in the order they must be tried:
    "target": an argument that names another target (or ends the flags): leave it to Python;
    "skip": a flag before the command whose value is the next argument;
    "inline": the same flags with their value attached (--namespace=x, -nx)."""
    from kctx.guard.cmdtree import SHORTS, VALUE

    shorts = {long: short for short, long in SHORTS[""].items()}
    target: list[str] = ["--"]
    skip: list[str] = []
    inline: list[str] = []
    for names, forms in ((TARGET_FLAGS, target), (SKIP_FLAGS, skip)):
        for name in names:
            if f" {name} " not in VALUE[""]:
                raise AssertionError(f"kubectl's --{name} takes no value: fix fast.py's flag lists")
            forms.append(f"--{name}")
            if name in shorts:
                forms.append(f"-{shorts[name]}")
    for name in TARGET_FLAGS:
        target.append(f"--{name}=*")
        if name in shorts:
            target.append(f"-{shorts[name]}*")
    for name in SKIP_FLAGS:
        inline.append(f"--{name}=*")
        if name in shorts:
            inline.append(f"-{shorts[name]}*")
    for pattern in target + skip + inline:
        if not pattern.replace("-", "a").replace("=*", "").replace("*", "").isalnum():
            raise AssertionError(f"not a plain flag pattern: {pattern!r}")  # shells get it unquoted
    return {"target": target, "skip": skip, "inline": inline}


def read_words(guard: dict[str, Any] | None) -> list[str]:
    """Commands that are reads whatever follows them, as one word each."""
    from kctx.guard.cmdtree import SUBCOMMANDS

    guard = guard or {}
    words = []
    for word in SUBCOMMANDS[""]:
        entry = TABLE.get(word)
        if entry is None or entry[0] != READ:
            continue
        subs = set(SUBCOMMANDS.get(word, {}).values())
        if any(TABLE.get(f"{word} {s}", (entry[1] or "",))[0] != READ for s in subs):
            continue
        words.append(word)
    words += ["__complete", "__completeNoDesc"]
    for setting, word in (("port_forward", "port-forward"), ("proxy", "proxy")):
        if guard.get(setting, True) is False:
            words.append(word)
    words += [str(r) for r in guard.get("allow") or [] if len(str(r).split()) == 1]
    asked = {str(r).split()[0] for r in guard.get("ask") or [] if str(r).split()}
    return [w for w in dict.fromkeys(words) if w not in asked]


def session_of_kubeconfig() -> str | None:
    """The session file KUBECONFIG starts with, when it is one of kctx's."""
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep, 1)[0]
    first = first.removesuffix(paths.DIRECT)  # k's direct layer of a session the API guard fronts (kctx.apiguard.state)
    if not first:
        return None
    first = os.path.abspath(first)
    return first if os.path.dirname(first) == os.path.abspath(paths.sessions_dir()) else None


def depends_on(kubectl: str) -> list[str]:
    """Files and folders whose change may change which kubectl a read in this shell runs."""
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[1:]
    return [*(os.path.abspath(p) for p in env if p), paths.hot_index_file(), paths.config_file(),
            paths.compiled_config_file(), paths.server_versions_hot_dir(), paths.entry_records_dir(),
            paths.kubectl_cache_dir(), kubectl]


def remember(p: Parsed, kubectl: str, guard: dict[str, Any] | None) -> None:
    """Write the note for this shell's session, when this read ran where the session points."""
    session = session_of_kubeconfig()
    if not session or any(p.flags.get(f) for f in TARGET_FLAGS) or os.environ.get("KCTX_KUBECTL"):
        return
    until = str(int(time.time()) + LIFETIME)
    lines = [MAGIC, kubectl, until, " ".join(read_words(guard)), *depends_on(kubectl)]
    if any("\n" in line for line in lines):
        return
    try:
        atomic_write(paths.session_note_file(session), ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"),
                     fsync=False)
    except OSError:
        pass
