"""import, list, show, tier, rm, rename: the commands that read and change the store."""

from __future__ import annotations

import os
import sys

from kctx import config, paths, render, session
from kctx.errors import FatalError
from kctx.render import info, safe, table

TYPE_CHECKING = False  # kctx list imports this module: no typing, no dataclasses (kctx.store) at start
if TYPE_CHECKING:
    from typing import Any

    from kctx.store import Entry


def _store() -> Any:
    from kctx.store import Store

    return Store()


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


def with_policy(cfg: dict[str, Any], entries: dict[str, Entry], warn: bool = True) -> dict[str, Entry]:
    """The entries with the tiers in force: the team policy's where it protects more (kctx.policy)."""
    from dataclasses import replace

    from kctx import policy
    from kctx.store import load_hot_index

    compiled = policy.load(cfg)
    if warn:
        policy.warn(compiled)
    if not compiled.rules:
        return entries
    applied = policy.apply(cfg, load_hot_index(), compiled)
    out = {}
    for name, e in entries.items():
        rec = applied.get(name)
        out[name] = replace(e, tier=rec["tier"], tier_source=rec["tier_source"]) if rec else e
    return out


def _tier_note(e: Entry) -> str:
    """'prod, "prod" in the context name' for the import report."""
    src = e.tier_source or {}
    if src.get("by") == "word":
        where = {"context": "context name", "cluster": "cluster name", "server": "server host", "entry": "entry name"}.get(src.get("in", ""), "")
        return f'{e.tier}: "{src.get("word")}" in the {where}'
    if src.get("by") == "policy":
        return f"{e.tier}: policy {os.path.basename(str(src.get('file')))} rule {src.get('rule')}"
    return e.tier


def import_(files: list[str], tier: str | None, strict: bool, force: bool, prefix: str | None, output: str,
            naming: str = "short") -> int:
    cfg = config.load()
    if tier is not None and tier not in cfg["tiers"]:
        raise FatalError(f"unknown tier {tier!r}", hint="tiers: " + ", ".join(cfg["tiers"]))
    if naming not in ("short", "full"):
        raise FatalError(f"unknown naming {naming!r}", hint="--names short or --names full")
    report = _store().import_files(files or default_sources(), tier=tier, strict=strict, force=force, prefix=prefix,
                                  naming=naming)
    render.show(output, report.as_dict(), lambda _: _import_text(cfg, report), stream=sys.stderr)
    return 0


def _import_text(cfg: dict[str, Any], report: Any) -> str:
    """What an import did, for people (stderr): names given, renames, skips, tiers."""
    out: list[str] = []
    info = out.append
    for context, entry in report.renamed:
        info(f"renamed: context {safe(context)!r} is not a valid entry name; imported as {entry!r}")
    for context, reason in report.skipped:
        info(f"skipped: {safe(context)!r}: {reason}")
    lengthened = {entry: short for _, entry, short in report.lengthened}
    for context, entry, kind in report.named:
        if entry in lengthened:
            info(f"named: {safe(context)} as {entry} (another cluster is also called {lengthened[entry]})")
        elif entry != context:
            info(f"named: {safe(context)} as {entry}")
    if report.named:
        info("(kctx import --names full keeps the contexts' own names; kctx use accepts them too)")
    shown = {n for names in (report.imported, report.updated, report.unchanged) for n in names[:20]}
    store = with_policy(cfg, _store().entries(only=shown))

    def line(verb: str, names: list[str]) -> None:
        if names:
            info(f"{verb} {len(names)}: " + ", ".join(f"{n} ({_tier_note(store[n])})" for n in names[:20])
                 + (f", … {len(names) - 20} more" if len(names) > 20 else ""))

    line("imported", report.imported)
    line("updated", report.updated)
    line("unchanged", report.unchanged)
    if not (report.imported or report.updated or report.unchanged):
        info("nothing imported")
    return "".join(m + "\n" for m in out)


def list_(output: str) -> int:
    """Every entry: names only, JSON of every field, or the table (from the index's listing
    columns alone: 10,000 entries, no Entry built, no record decoded)."""
    if output == "json":
        render.show(output, _list_json(), str)
        return 0
    from kctx import index
    from kctx.names import valid_name

    try:
        names, listing = index.listing(valid_name)
    except index.Stale:
        names, listing = _store().listing()
    if output == "name":
        render.show(output, names, lambda ns: "".join(n + "\n" for n in ns))
        return 0
    tiers = _tiers_in_force(config.load(), names, listing["tier"])
    render.show(output, {"names": names, "tiers": tiers, **listing}, _list_text)
    return 0


def _list_json() -> list[dict[str, Any]]:
    from kctx.commands.kubectl_cmds import version_columns

    cfg = config.load()
    entries = with_policy(cfg, _store().entries())
    active = session.active_entry()
    cols = version_columns({n: {"server": e.server, "pin": e.pin, "tier": e.tier, "error": e.error}
                            for n, e in entries.items()})  # from the version caches only: never a network call
    return [{**e.as_dict(), "protected": config.is_protected(cfg, e.tier) or _policy_protected(e),
             "active": e.name == active, **cols[e.name]} for e in entries.values()]


def _list_text(data: dict[str, Any]) -> str:
    from kctx.commands.kubectl_cmds import kubectl_cell, server_version_cell, version_columns

    names = data["names"]
    if not names:
        info("no entries yet: 'kctx import' splits your kubeconfig into entries")
        return ""
    records = {n: {"server": s, "pin": p, "tier": t, "error": err}
               for n, s, p, t, err in zip(names, data["server"], data["pin"], data["tiers"], data["error"])}
    cols = version_columns(records)  # from the version caches only: never a network call
    active = session.active_entry()
    cells: dict[int, tuple[str, str, str]] = {}  # entries share a column record: its cells made once
    rows = []
    for name, tier, server, namespace, error in zip(names, data["tiers"], data["server"], data["namespace"],
                                                    data["error"]):
        col = cols[name]
        cell = cells.get(id(col))
        if cell is None:
            cell = cells[id(col)] = (server_version_cell(col), kubectl_cell(col), col["note"])
        rows.append((f"* {name}" if name == active else f"  {name}", tier,
                     f"(broken: {error})" if error else safe(server or ""), safe(namespace or "default"), *cell))
    return table(["  NAME", "TIER", "SERVER", "NAMESPACE", "VERSION", "KUBECTL", ""], rows)


def _tiers_in_force(cfg: dict[str, Any], names: list[str], tiers: list[str]) -> list[str]:
    """The tiers with the team policy applied (with_policy, for columns)."""
    from kctx import policy

    compiled = policy.load(cfg)
    policy.warn(compiled)
    if not compiled.rules:
        return [t or "none" for t in tiers]
    from kctx.store import load_hot_index

    applied = policy.apply(cfg, load_hot_index(), compiled)
    return [applied[n]["tier"] if n in applied else (t or "none") for n, t in zip(names, tiers)]


def _cas(e: Any) -> set[str]:
    return set(e.ca_bundle or ([e.ca_sha256] if e.ca_sha256 else []))


def _policy_protected(e: Entry) -> bool:
    from kctx import policy

    src = e.tier_source or {}
    return src.get("by") == "policy" and policy.protects(config.load(), e.tier)


def show(name: str, output: str) -> int:
    cfg = config.load()
    entries = _store().entries()
    if name not in entries:
        _store().get(name)  # the one "no entry named" error
    e = with_policy(cfg, {name: entries[name]})[name]
    protected = config.is_protected(cfg, e.tier) or _policy_protected(e)
    mine = _cas(e)
    same_ca = [n for n, other in entries.items() if n != name and mine & _cas(other)]
    render.show(output, {**e.as_dict(), "protected": protected, "same_ca": same_ca},
                lambda _: _show_text(cfg, e, protected, same_ca, entries))
    return 0


def _show_text(cfg: dict[str, Any], e: Entry, protected: bool, same_ca: list[str], entries: dict[str, Entry]) -> str:
    from kctx.names import describe_source

    ca = e.ca_sha256 or "none (kubectl trusts the system's CAs, or does not verify)"
    if e.ca_bundle:
        ca += f" (the first of {len(e.ca_bundle)} in its bundle)"
    fields: list[tuple[str, Any]] = [
        ("name", e.name), ("tier", e.tier + (" (protected)" if protected else "")),
        ("tier from", safe(describe_source(e.tier_source))),
        ("server", safe(e.server)), ("cluster", safe(e.cluster)), ("user", safe(e.user)),
        ("namespace", safe(e.namespace or "default")), ("CA sha256", ca),
    ]
    if same_ca:
        marked = [n + (" (protected)" if config.is_protected(cfg, entries[n].tier) else "") for n in same_ca]
        fields.append(("same CA as", ", ".join(marked[:10]) + (f", … {len(marked) - 10} more" if len(marked) > 10 else "")))
    fields += [
        ("file", e.file), ("imported from", e.source or "-"), ("original context", safe(e.context)),
        *((k.replace("_", " "), safe(v)) for k, v in e.facts.items()),
        ("kubectl pin", e.pin or "auto"),
    ]
    if e.error:
        fields.append(("error", e.error))
    width = max(len(k) for k, _ in fields)
    return "".join(f"{k + ':':<{width + 1}} {v}\n" for k, v in fields)


def tier(name: str, tier_name: str | None) -> int:
    store = _store()
    cfg = config.load()
    if tier_name is None:
        e = store.get(name)
        sys.stdout.write(with_policy(cfg, {e.name: e})[e.name].tier + "\n")
        return 0
    e = store.set_tier(name, tier_name, list(cfg["tiers"]))
    info(f"{e.name}: tier {e.tier}" + (" (protected)" if config.is_protected(cfg, e.tier) else ""))
    held = with_policy(cfg, {e.name: e}, warn=False)[e.name]
    if held.tier != e.tier:
        src = held.tier_source
        info(f"{e.name}: the team policy keeps it at tier {held.tier} ({src.get('file')} rule {src.get('rule')}): "
             "a personal tier cannot lower what the policy protects")
    return 0


def rm(names: list[str]) -> int:
    store = _store()
    for name in names:
        store.get(name)  # all or nothing: check every name before removing any
    for name in names:
        store.remove(name)
        info(f"removed {name}")
    return 0


def rename(old: str, new: str) -> int:
    e = _store().rename(old, new)
    info(f"renamed {old} to {e.name}")
    if session.active_entry() == old:
        info(f"this shell still targets the old file: run 'kctx use {e.name}'")
    return 0
