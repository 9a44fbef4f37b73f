"""Which kubectl binary kctx runs: the ONE place that decides.

`KCTX_KUBECTL` wins (an outer `k` sets it for the kubectl it runs, so a nested `k` started by
a credential plugin goes straight there). Otherwise kctx.choice decides from the target: the
entry's pinned version, else the kubectl matching its server's version (cached per server,
asked once when unknown, refreshed in the background when stale), downloaded and verified on
first use; else a fallback with a one-line warning. Never kctx's own `k` (a symlink or copy of
it, or a script carrying kctx's marker): running ourselves again would recurse.
Imported by `k` on every command: on a warm cache it reads two small marshal files.
"""

import os
import sys

from kctx.errors import FatalError

# Scripts of kctx's that must never be taken for kubectl carry this text near their start.
MARKER = b"kctx-not-kubectl"
_HEAD = 4096


HINT = "install kubectl, or set KCTX_KUBECTL to its path"


def is_kctx_own(path: str, own: str | None = None) -> bool:
    """True for `k` itself (same file as `own`) or any file marked as kctx's."""
    try:
        if own and os.path.samefile(path, own):
            return True
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    except OSError:
        return False
    return head[:2] == b"#!" and MARKER in head


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def resolve(entry: str | None = None, target: object = None, own: str | None = None) -> str:
    """The path of the kubectl to run for `entry` (a kctx entry name, when known).

    `target` is the guard's lazily resolved target (kctx.guard.target.Target); its entry and
    server decide, so `--context`, `--kubeconfig` and `--server` pick the kubectl of the
    cluster they reach. `own` is the path of the running `k`, never returned.
    """
    explicit = os.environ.get("KCTX_KUBECTL")
    if explicit:
        if not _executable(explicit):
            raise FatalError(f"KCTX_KUBECTL={explicit} is not an executable file", hint=HINT)
        if is_kctx_own(explicit, own):
            raise FatalError(f"KCTX_KUBECTL={explicit} is kctx's own k, not kubectl", hint=HINT)
        return explicit
    from kctx import choice

    name, server, record = entry, None, None
    fast = choice.session_entry(target) if target is not None else None
    if fast is not None:
        name, record = fast  # a plain command in a kctx shell: no need to resolve the whole target
    elif target is not None:
        name = getattr(target, "entry", None) or name
        server = getattr(target, "server", None) or None
    if name and record is None:
        from kctx import session

        record = session.entry_record(name)
    c = choice.choose(name, record, server, own=own)
    for warning in c.warnings:
        sys.stderr.write(f"kctx: {warning}\n")
    if c.path and _executable(c.path) and not is_kctx_own(c.path, own):
        return c.path
    raise FatalError("no kubectl found on PATH (kctx's own k does not count), and none installed", hint=HINT)


def on_use(name: str, record: dict | None) -> None:
    """After `kctx use NAME`: refresh the server's version in the background when missing or stale."""
    from kctx import choice

    choice.on_use(name, record)


def skew_marker(record: dict | None, name: str | None = None) -> str:
    """For the prompt: a marker when this entry's kubectl is outside the skew policy, else ''."""
    from kctx import choice

    return choice.skew_marker(record, name)
