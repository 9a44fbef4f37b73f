"""kctx kubectl which|pin|install|list|prune, and the version columns of kctx list."""

from __future__ import annotations

import os
import time

from kctx import paths, render
from kctx.errors import FatalError
from kctx.kubectl import choice, installed, versions
from kctx.render import info, safe, table

TYPE_CHECKING = False  # kctx list imports this module: no typing, no dataclasses (kctx.store) at start
if TYPE_CHECKING:
    from typing import Any

    from kctx.store import Entry


def _store() -> Any:
    from kctx.store import Store

    return Store()


def _record(e: Entry) -> dict[str, Any]:
    return {"server": e.server, "pin": e.pin, "tier": e.tier}


def _entry_or_active(name: str | None) -> Entry:
    if name is None:
        from kctx import session

        name = session.active_entry()
        if name is None:
            raise FatalError("this shell targets no entry", hint="name one: kctx kubectl which NAME")
    return _store().get(name)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _folder_size(folder: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# -- which ------------------------------------------------------------------------------------


def which(name: str | None, output: str) -> int:
    """The kubectl an entry uses and why; learns the server's version when unknown, never downloads."""
    from kctx.kubectl import failures

    e = _entry_or_active(name)
    c = choice.choose(e.name, _record(e), download=False, force=True)
    here = bool(c.path and os.path.isfile(c.path))
    failed = failures.last(c.wanted) if c.wanted else None
    download_error = None
    if failed:
        wait = failures.waiting(c.wanted or "")
        download_error = (f"the last download of kubectl v{c.wanted} failed "
                          f"{failures.age(time.time() - failed[0])} ago: {failed[2]}"
                          + (f" (k tries again in {failures.age(wait[0])}; kctx kubectl install {c.wanted} tries now)"
                             if wait else ""))
    render.show(output, {"entry": e.name, "installed": here, **c.as_dict(), "download_error": download_error},
                lambda _: _which_text(e, c, download_error))
    return 0


def _which_text(e: Entry, c: Any, download_error: str | None) -> str:
    """The kubectl's path (stdout), why it is that one (stderr)."""
    for w in c.warnings:
        info(f"kctx: {w}")
    if download_error:
        info(f"kctx: {download_error}")
    if c.path:
        info(f"{e.name}: {c.reason}" + (f" → kubectl v{c.version}" if c.version and c.source != "pin" else ""))
        return f"{c.path}\n"
    if c.wanted:
        info(f"{e.name}: {c.reason}; kubectl v{c.wanted} is not installed yet "
             f"('k' downloads it on first use, or: kctx kubectl install {c.wanted})")
        return f"{paths.kubectl_binary(c.version or c.wanted)}\n"
    raise FatalError(f"{e.name}: no kubectl found", hint="kctx kubectl install 1.31 installs one")


# -- pin --------------------------------------------------------------------------------------


def pin(name: str, version: str) -> int:
    store = _store()
    e = store.get(name)
    if version == "auto":
        store.set_pin(e.name, None)
        info(f"{e.name}: kubectl follows the server's version again")
        return 0
    try:
        v = versions.normalise(version)
    except ValueError:
        raise FatalError(f"not a kubectl version: {version!r}",
                         hint="a release such as 1.30.4, a minor such as 1.30, or 'auto'") from None
    store.set_pin(e.name, v)
    info(f"{e.name}: kubectl pinned to v{v}" + (" (newest installed or released patch)" if versions.is_minor_only(v) else ""))
    from kctx.kubectl.probe import cached_fast

    rec = cached_fast(e.server)
    if rec and isinstance(rec.get("major"), int) and isinstance(rec.get("minor"), int):
        warning = versions.skew_warning(v, (rec["major"], rec["minor"]), str(rec.get("git_version")))
        if warning:
            info(f"kctx: warning: {warning}")
    return 0


# -- install ----------------------------------------------------------------------------------


def install(version: str, output: str = "text") -> int:
    from kctx.kubectl import download

    try:
        v = versions.normalise(version)
    except ValueError as err:
        raise FatalError(str(err)) from None
    from kctx.kubectl import failures

    asked = v  # what k backs off on; tried now whatever the back-off says
    try:
        if versions.is_minor_only(v):
            v = download.newest_patch(v)
        already = paths.kubectl_binary(v) if os.path.isfile(paths.kubectl_binary(v)) else None
        path = already or download.install(v)
    except download.NotFound:
        message = f"the mirror ({download.mirror_url()}) has no kubectl v{v} for {'/'.join(download.platform())}"
        failures.record(asked, message)
        raise FatalError(message, hint="kctx kubectl install X.Y takes the newest patch") from None
    except download.DownloadError as e:
        failures.record(asked, e.message)
        raise
    for done in {asked, v}:
        failures.clear(done)
    def text(_: Any) -> str:
        info(f"kubectl v{v} " + ("was already installed" if already else "installed"))
        return path + "\n"

    render.show(output, {"version": v, "path": path, "already_installed": bool(already)}, text)
    return 0


# -- list / prune -----------------------------------------------------------------------------


def _usage() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """({installed version: entries using it}, {wanted version not installed: entries})."""
    lookup = choice.Lookup(full=True)
    used: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    cache_dir = paths.kubectl_cache_dir() + os.sep
    for e in _store().entries().values():
        if e.error:
            continue
        c = choice.choose(e.name, _record(e), network=False, download=False, lookup=lookup)
        if c.wanted and c.source in ("fallback", "path"):
            missing.setdefault(c.wanted, []).append(e.name)  # runs a neighbour until its own arrives
        elif c.path and c.path.startswith(cache_dir) and c.version:
            used.setdefault(c.version, []).append(e.name)
        elif c.wanted and not c.path:
            missing.setdefault(c.wanted, []).append(e.name)
    return used, missing


def list_(output: str) -> int:
    used, missing = _usage()
    rows: list[dict[str, Any]] = []
    for v in reversed(installed.installed_versions()):
        size = _folder_size(os.path.dirname(paths.kubectl_binary(v)))
        rows.append({"version": v, "installed": True, "size": size, "path": paths.kubectl_binary(v),
                     "entries": used.get(v, [])})
    for v, names in sorted(missing.items(), key=lambda kv: versions.sort_key(kv[0]), reverse=True):
        rows.append({"version": v, "installed": False, "size": 0, "path": None, "entries": names})
    render.show(output, {"versions": rows, "path_kubectl": installed.path_kubectl()}, _list_text)
    return 0


def _list_text(data: dict[str, Any]) -> str:
    rows, path_kubectl = data["versions"], data["path_kubectl"]
    if not rows:
        info("no kubectl installed by kctx yet" + (f" (kubectl on PATH: {path_kubectl})" if path_kubectl else ""))
        return ""

    def users(names: list[str]) -> str:
        shown = ", ".join(names[:8])
        return (shown + f", … {len(names) - 8} more" if len(names) > 8 else shown) or "-"

    return table(
        ["VERSION", "SIZE", "USED BY"],
        [[f"v{r['version']}" + ("" if r["installed"] else " (not installed)"),
          _size(r["size"]) if r["installed"] else "-", users(r["entries"])] for r in rows])


def prune(dry_run: bool) -> int:
    from kctx.kubectl import download

    used, _ = _usage()
    freed, removed = 0, []
    for v in installed.installed_versions():
        if v in used:
            continue
        if dry_run:
            freed += _folder_size(os.path.dirname(paths.kubectl_binary(v)))
        else:
            freed += download.remove(v)
        removed.append(v)
    verb = "would remove" if dry_run else "removed"
    for v in removed:
        info(f"{verb} kubectl v{v}")
    info(f"{verb} {len(removed)} version(s), {_size(freed)}" if removed else "nothing to prune: every installed kubectl is in use")
    return 0


# -- kctx list columns ------------------------------------------------------------------------


def version_columns(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per entry, from the caches only (no network): server version, kubectl, skew.

    `records`: {name: {"server", "pin", "tier", "error"}} (an index record has these keys).
    {name: {"server_version", "kubectl", "kubectl_source", "installed", "skew_ok", "note"}}
    """
    lookup = choice.Lookup(full=True)
    records_of = lookup.servers()  # every server's version record, read once, not per entry
    out: dict[str, dict[str, Any]] = {}
    # Cache-only, so the columns are the same for one pin and one server record: entries on one
    # server, and entries whose servers have no record yet (10,000 entries: one choice, not 10,000).
    seen: dict[tuple[str | None, str], dict[str, Any]] = {}
    broken = {"server_version": None, "kubectl": None, "kubectl_source": None, "installed": False,
              "skew_ok": None, "note": ""}
    for name, rec in records.items():
        if rec.get("error"):
            out[name] = dict(broken)
            continue
        server, pin = rec.get("server") or "", rec.get("pin")
        key = (pin, server if server and records_of.get(server) else "")
        known = seen.get(key)
        if known is not None:
            out[name] = known
            continue
        c = choice.choose(name, {"server": server, "pin": pin, "tier": rec.get("tier")}, network=False,
                          download=False, lookup=lookup)
        note = ""
        if c.skew_ok is False and c.server_mm:
            note = f"{choice.MARKER} skew: server {c.server_mm[0]}.{c.server_mm[1]}"
        elif c.server_error and not c.server_version:
            note = "server version unknown"
        out[name] = seen[key] = {
            "server_version": c.server_version, "kubectl": c.version or c.wanted,
            "kubectl_source": c.source, "installed": bool(c.path), "skew_ok": c.skew_ok, "note": note,
        }
    return out


def kubectl_cell(col: dict[str, Any]) -> str:
    v = col.get("kubectl")
    if not v:
        return "-" if col.get("kubectl_source") != "path" else "PATH"
    text = f"v{v}"
    if col.get("kubectl_source") == "pin":
        text += " (pin)"
    elif col.get("kubectl_source") == "fallback":
        text += " (fallback)"
    return text


def server_version_cell(col: dict[str, Any]) -> str:
    return safe(col.get("server_version") or "-")
