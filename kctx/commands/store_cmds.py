"""import, list, show, tier, rm, rename: the commands that read and change the store."""

import os
import sys
from typing import Any

from kctx import config, paths, session
from kctx.errors import FatalError
from kctx.render import emit_json, info, safe, table
from kctx.store import Store


def default_sources() -> list[str]:
    """What `kctx import` reads without arguments: $KUBECONFIG's files, else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG", "")
    files = [f for f in env.split(os.pathsep) if f]
    # Our own session and entry files are never import sources.
    own = (paths.sessions_dir(), paths.entries_dir())
    files = [f for f in files if not os.path.abspath(f).startswith(own)]
    if files:
        return [f for f in files if os.path.exists(f)] or files
    return [paths.kube_config()]


def import_(files: list[str], tier: str | None, strict: bool, force: bool, prefix: str | None, output: str) -> int:
    cfg = config.load()
    if tier is not None and tier not in cfg["tiers"]:
        raise FatalError(f"unknown tier {tier!r}", hint="tiers: " + ", ".join(cfg["tiers"]))
    report = Store().import_files(files or default_sources(), tier=tier, strict=strict, force=force, prefix=prefix)
    if output == "json":
        emit_json(report.as_dict())
        return 0
    for context, entry in report.renamed:
        info(f"renamed: context {safe(context)!r} is not a valid entry name; imported as {entry!r}")
    for context, reason in report.skipped:
        info(f"skipped: {safe(context)!r}: {reason}")
    store = Store().entries()

    def line(verb: str, names: list[str]) -> None:
        if names:
            info(f"{verb} {len(names)}: " + ", ".join(f"{n} ({store[n].tier})" for n in names[:20])
                 + (f", … {len(names) - 20} more" if len(names) > 20 else ""))

    line("imported", report.imported)
    line("updated", report.updated)
    line("unchanged", report.unchanged)
    if not (report.imported or report.updated or report.unchanged):
        info("nothing imported")
    return 0


def list_(output: str) -> int:
    from kctx.commands.kubectl_cmds import kubectl_cell, server_version_cell, version_columns

    entries = Store().entries()
    active = session.active_entry()
    if output == "name":
        sys.stdout.write("".join(n + "\n" for n in entries))
        return 0
    cols = version_columns(entries)  # from the version caches only: never a network call
    if output == "json":
        emit_json([{**e.as_dict(), "active": e.name == active, **cols[e.name]} for e in entries.values()])
        return 0
    if not entries:
        info("no entries yet: 'kctx import' splits your kubeconfig into entries")
        return 0
    rows = []
    for e in entries.values():
        mark = "*" if e.name == active else " "
        server = f"(broken: {e.error})" if e.error else safe(e.server)
        col = cols[e.name]
        rows.append([f"{mark} {e.name}", e.tier, server, safe(e.namespace or "default"),
                     server_version_cell(col), kubectl_cell(col), col["note"]])
    sys.stdout.write(table(["  NAME", "TIER", "SERVER", "NAMESPACE", "VERSION", "KUBECTL", ""], rows))
    return 0


def _cas(e: Any) -> set[str]:
    return set(e.ca_bundle or ([e.ca_sha256] if e.ca_sha256 else []))


def show(name: str, output: str) -> int:
    entries = Store().entries()
    if name not in entries:
        Store().get(name)  # the one "no entry named" error
    e = entries[name]
    mine = _cas(e)
    same_ca = [n for n, other in entries.items() if n != name and mine & _cas(other)]
    if output == "json":
        emit_json({**e.as_dict(), "same_ca": same_ca})
        return 0
    cfg = config.load()
    ca = e.ca_sha256 or "none (kubectl trusts the system's CAs, or does not verify)"
    if e.ca_bundle:
        ca += f" (the first of {len(e.ca_bundle)} in its bundle)"
    fields: list[tuple[str, Any]] = [
        ("name", e.name), ("tier", e.tier + (" (protected)" if config.is_protected(cfg, e.tier) else "")),
        ("server", safe(e.server)), ("cluster", safe(e.cluster)), ("user", safe(e.user)),
        ("namespace", safe(e.namespace or "default")), ("CA sha256", ca),
    ]
    if same_ca:
        marked = [n + (" (protected)" if config.is_protected(cfg, entries[n].tier) else "") for n in same_ca]
        fields.append(("same CA as", ", ".join(marked[:10]) + (f", … {len(marked) - 10} more" if len(marked) > 10 else "")))
    fields += [
        ("file", e.file), ("imported from", e.source or "-"), ("original context", safe(e.context)),
        ("kubectl pin", e.pin or "auto"),
    ]
    if e.error:
        fields.append(("error", e.error))
    width = max(len(k) for k, _ in fields)
    sys.stdout.write("".join(f"{k + ':':<{width + 1}} {v}\n" for k, v in fields))
    return 0


def tier(name: str, tier_name: str | None) -> int:
    store = Store()
    if tier_name is None:
        sys.stdout.write(store.get(name).tier + "\n")
        return 0
    cfg = config.load()
    e = store.set_tier(name, tier_name, list(cfg["tiers"]))
    info(f"{e.name}: tier {e.tier}" + (" (protected)" if config.is_protected(cfg, e.tier) else ""))
    return 0


def rm(names: list[str]) -> int:
    store = Store()
    for name in names:
        store.get(name)  # all or nothing: check every name before removing any
    for name in names:
        store.remove(name)
        info(f"removed {name}")
    return 0


def rename(old: str, new: str) -> int:
    e = Store().rename(old, new)
    info(f"renamed {old} to {e.name}")
    if session.active_entry() == old:
        info(f"this shell still targets the old file: run 'kctx use {e.name}'")
    return 0
