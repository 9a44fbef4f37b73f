"""The store: one kubeconfig file per entry, and the index describing them (kctx.index).

The index holds what only kctx knows (tier, pinned kubectl, source file) and, as a cache,
what is derived from each entry file (server, cluster, user, namespace), keyed by the file's
mtime and size so a changed file is read again: this module derives and refreshes records,
kctx.index reads and writes them.
Every change happens under one file lock and lands by atomic replace.
"""

import os
from dataclasses import dataclass, field
from typing import Any

from kctx import index as idx
from kctx import paths
from kctx.errors import FatalError
from kctx.fsutil import atomic_write, ensure_dir, file_lock, stage_batch
from kctx.names import FACTS, MAX_NAME, no_entry, sanitise, valid_name

__all__ = ["MAX_NAME", "Entry", "ImportReport", "Store", "check_name", "sanitise", "valid_name"]



def check_name(name: str) -> str:
    if not valid_name(name):
        raise FatalError(
            f"invalid entry name {name!r}",
            hint="use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63",
        )
    return name


@dataclass(frozen=True)
class Entry:
    name: str
    tier: str
    server: str
    cluster: str
    user: str
    namespace: str | None
    file: str
    pin: str | None = None
    source: str = ""
    context: str = ""  # the context's name in the file it was imported from
    error: str | None = None  # the entry file could not be read; shown by list and doctor
    ca_sha256: str | None = None  # SHA-256 of the DER of the cluster's CA certificate (kctx.identity)
    ca_bundle: list[str] | None = None  # every CA certificate's, when the cluster trusts several
    tier_source: dict[str, Any] = field(default_factory=dict)  # how the tier was decided
    facts: dict[str, str] = field(default_factory=dict)  # eks_account, gke_project, ... (kctx.names)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "tier": self.tier, "server": self.server, "cluster": self.cluster,
            "user": self.user, "namespace": self.namespace, "file": self.file, "pin": self.pin,
            "source": self.source, "context": self.context, "error": self.error,
            "ca_sha256": self.ca_sha256, "ca_bundle": self.ca_bundle,
            "tier_source": self.tier_source, "facts": self.facts,
        }


def _entry(name: str, rec: dict[str, Any], folder: str | None = None) -> Entry:
    return Entry(
        name=name, tier=rec.get("tier", "none"), server=rec.get("server", ""),
        cluster=rec.get("cluster", ""), user=rec.get("user", ""), namespace=rec.get("namespace"),
        file=f"{folder}{os.sep}{name}.yaml" if folder else paths.entry_file(name), pin=rec.get("pin"), source=rec.get("source", ""),
        context=rec.get("context", name), error=rec.get("error"), ca_sha256=rec.get("ca_sha256"),
        ca_bundle=rec.get("ca_bundle"),
        tier_source=rec.get("tier_source") or {"by": "default"},
        facts={k: rec[k] for k in FACTS if rec.get(k)},
    )


def load_hot_index() -> dict[str, dict[str, Any]]:
    """The index as last written, read from its hot copy; a full refresh when that cannot be read."""
    try:
        return idx.hot()
    except idx.Stale:
        return {e.name: _record_of(e) for e in Store().entries().values()}


def _record_of(e: Entry) -> dict[str, Any]:
    d = e.as_dict()
    d.pop("name")
    d.pop("file")
    d.update(d.pop("facts"))
    return d


def hot_entry(name: str) -> dict[str, Any] | None:
    """One entry's record, fresh: from the index when it can answer, else re-derived from the file."""
    try:
        return idx.record(name)
    except idx.Stale:
        entry = Store().find(name)
        return _record_of(entry) if entry else None


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (context, entry): sanitised
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (context, reason)
    named: list[tuple[str, str, str]] = field(default_factory=list)  # (context, entry, kind): short names
    lengthened: list[tuple[str, str, str]] = field(default_factory=list)  # (context, entry, short name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported, "updated": self.updated, "unchanged": self.unchanged,
            "renamed": [{"context": c, "entry": e} for c, e in self.renamed],
            "skipped": [{"context": c, "reason": r} for c, r in self.skipped],
            "named": [{"context": c, "entry": e, "kind": k} for c, e, k in self.named],
            "lengthened": [{"context": c, "entry": e, "short": s} for c, e, s in self.lengthened],
        }


class Store:
    """Entries on disk. Reads need no lock; every change takes the store lock."""

    def __init__(self) -> None:
        self.dir = paths.entries_dir()
        self._config: dict[str, Any] | None = None  # loaded once for all the entries derived

    def _file(self, name: str) -> str:
        return f"{self.dir}{os.sep}{name}.yaml"  # paths.entry_file, without its lookups per entry

    # -- reading ------------------------------------------------------------------------------
    def _derive(self, name: str, rec: dict[str, Any], st: os.stat_result,
                doc: dict[str, Any] | None = None) -> dict[str, Any]:
        """`rec` completed from entry `name`'s file (`doc`: its content, when just written)."""
        from kctx import kubeconfig

        rec = dict(rec)
        rec["mtime_ns"], rec["size"] = st.st_mtime_ns, st.st_size
        path = self._file(name)
        try:
            info = kubeconfig.describe_entry(kubeconfig.read(path) if doc is None else doc, name, path)
            rec.update(info)
            rec["error"] = None
        except FatalError as e:
            rec["error"] = e.message
        rec.setdefault("context", name)
        rec.setdefault("ca_sha256", None)
        rec.setdefault("server_key", "")
        from kctx import names

        context, cluster, server = rec["context"], rec.get("cluster") or "", rec.get("server") or ""
        if "tier" not in rec:  # a file dropped into the folder by hand, or a rebuilt index
            if self._config is None:
                from kctx import config

                self._config = config.load()
            rec["tier"], rec["tier_source"] = names.infer_tier(self._config, context, cluster, server, name)
        rec.update(names.facts_of(context, cluster, server, rec.get("user") or ""))
        return rec

    def _scan(self) -> dict[str, os.stat_result]:
        found: dict[str, os.stat_result] = {}
        try:
            with os.scandir(self.dir) as it:
                for de in it:
                    if de.name.endswith(".yaml") and valid_name(de.name[:-5]):
                        try:
                            found[de.name[:-5]] = de.stat()
                        except OSError:
                            pass
        except FileNotFoundError:
            pass
        return found

    def _fresh(self, index: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], bool]:
        files = self._scan()
        fresh: dict[str, dict[str, Any]] = {}
        changed = set(index) - set(files) != set()
        for name, st in files.items():
            rec = index.get(name)
            # A record from before kctx kept CA fingerprints and server keys is derived again once.
            if (rec is not None and rec.get("mtime_ns") == st.st_mtime_ns and rec.get("size") == st.st_size
                    and "server_key" in rec):
                fresh[name] = rec
            else:
                fresh[name] = self._derive(name, rec or {}, st)
                changed = True
        return fresh, changed

    def entries(self, only: "set[str] | None" = None) -> dict[str, Entry]:
        """Every entry (or those named in `only`), sorted by name; stale index records are
        refreshed (and saved when possible)."""
        index = idx.current()
        fresh, changed = self._fresh(index)
        if changed:
            try:
                with file_lock(paths.lock_file()):
                    # Re-read under the lock: another process may have changed the store meanwhile.
                    fresh, changed = self._fresh(idx.read())
                    if changed:
                        idx.write(fresh)
            except OSError:
                pass  # a read-only store can still be listed
        wanted = sorted(fresh) if only is None else sorted(n for n in only if n in fresh)
        return {name: _entry(name, fresh[name], self.dir) for name in wanted}

    def listing(self) -> tuple[list[str], dict[str, list[Any]]]:
        """What `kctx list` shows (index.listing: names, and a column per key), refreshed through
        entries() when an entry file changed."""
        for _ in range(2):
            try:
                return idx.listing(valid_name)
            except idx.Stale:
                entries = self.entries()  # derives what changed and saves the index when it can
        # A store that cannot be saved (read-only): the columns from the entries themselves.
        recs = {n: _record_of(e) for n, e in entries.items()}
        return list(recs), {key: [r.get(key) for r in recs.values()] for key in idx.LISTING_KEYS}

    def find(self, name: str) -> Entry | None:
        return self.entries().get(name)

    def get(self, name: str) -> Entry:
        entries = self.entries()
        if name not in entries:
            raise no_entry(name, entries)
        return entries[name]

    # -- changing -----------------------------------------------------------------------------
    def _locked_index(self) -> dict[str, dict[str, Any]]:
        fresh, _ = self._fresh(idx.read())
        return fresh

    def _prepare(self) -> None:
        ensure_dir(paths.data_dir())
        ensure_dir(self.dir)

    def set_tier(self, name: str, tier: str, tiers: list[str]) -> Entry:
        if tier not in tiers:
            raise FatalError(f"unknown tier {tier!r}", hint="tiers: " + ", ".join(tiers))
        return self._update(name, tier=tier, tier_source={"by": "kctx tier"})

    def set_pin(self, name: str, version: str | None) -> Entry:
        return self._update(name, pin=version)

    def _update(self, name: str, **changes: Any) -> Entry:
        self._prepare()
        with file_lock(paths.lock_file()):
            index = self._locked_index()
            if name not in index:
                raise no_entry(name, index)
            index[name] = {**index[name], **changes}
            idx.write(index)
            return _entry(name, index[name])

    def remove(self, name: str) -> None:
        self._prepare()
        with file_lock(paths.lock_file()):
            index = self._locked_index()
            if name not in index:
                raise no_entry(name, index)
            try:
                os.unlink(paths.entry_file(name))
            except FileNotFoundError:
                pass
            del index[name]
            idx.write(index)

    def rename(self, old: str, new: str) -> Entry:
        from kctx import kubeconfig

        check_name(new)
        self._prepare()
        with file_lock(paths.lock_file()):
            index = self._locked_index()
            if old not in index:
                raise no_entry(old, index)
            if new in index:
                raise FatalError(f"an entry named {new!r} exists already")
            path = paths.entry_file(old)
            doc = kubeconfig.read(path)
            for ctx in doc.get("contexts") or []:
                if isinstance(ctx, dict) and ctx.get("name") == old:
                    ctx["name"] = new
            if doc.get("current-context") == old:
                doc["current-context"] = new
            atomic_write(paths.entry_file(new), kubeconfig.yaml_dump(doc))
            os.unlink(path)
            rec = dict(index.pop(old))
            st = os.stat(paths.entry_file(new))
            index[new] = self._derive(new, rec, st)
            idx.write(index)
            return _entry(new, index[new])

    def import_files(
        self,
        files: list[str],
        tier: str | None = None,
        strict: bool = False,
        force: bool = False,
        prefix: str | None = None,
        naming: str = "short",
    ) -> ImportReport:
        """Split each file into entries. All-or-nothing: on any error the store is unchanged.

        naming "short" names entries after their cluster for the context names cloud tools
        generate (kctx.names); "full" keeps the context's name.
        """
        from kctx import kubeconfig, names

        if prefix is not None and prefix and not valid_name(prefix + "x"):
            raise FatalError(f"invalid prefix {prefix!r}", hint="letters, digits, '.', '_' and '-'")
        report = ImportReport()
        parts: list[tuple[Any, str, str]] = []  # (split, source, path)
        for path in files:
            source = os.path.abspath(path)
            doc = kubeconfig.read(path)
            parts += [(part, source, path) for part in kubeconfig.split(doc, path)]
        # Short names: contexts already in the store keep their entry's name (a re-import updates
        # it); the others take the cluster's name, lengthened while it collides.
        short: dict[int, str] = {}
        if naming == "short" and parts:
            existing = idx.read()
            known = {(rec.get("context"), rec.get("source")): n for n, rec in existing.items()}
            known_unique = {rec.get("context"): n for n, rec in existing.items()}
            pending: list[tuple[int, list[str], Any]] = []
            taken = set(existing)
            for rec in existing.values():  # prod-eu-west-1 and prod-us-east-1 hold `prod` too
                was = names.recognise(str(rec.get("context") or ""), str(rec.get("cluster") or ""),
                                      str(rec.get("server") or ""), str(rec.get("user") or ""),
                                      str(rec.get("source") or ""))
                if was.kind:
                    taken.update(names.candidates(was)[:1])
            for i, (part, source, _) in enumerate(parts):
                server = str(part.cluster.get("server") or "")
                named = names.recognise(part.context, part.cluster_name, server, part.user_name, source)
                if not named.kind:
                    taken.add(sanitise((prefix or "") + part.context))  # keeps its own name
                    continue
                same = known.get((part.context, source)) or (known_unique.get(part.context) if named.unique else None)
                if same:
                    short[i] = same
                    continue
                cands = names.candidates(named, prefix or "")
                if cands:
                    pending.append((i, cands, named))
            chosen = names.choose([c for _, c, _ in pending], taken)
            for (i, cands, named), name in zip(pending, chosen):
                short[i] = name
                report.named.append((parts[i][0].context, name, named.kind))
                if name != cands[0]:
                    report.lengthened.append((parts[i][0].context, name, cands[0]))
        planned: dict[str, tuple[dict[str, Any], str, str]] = {}  # entry -> (doc, source, context)
        for i, (part, source, path) in enumerate(parts):
            name = short.get(i) or (prefix or "") + part.context
            if not valid_name(name):
                fixed = sanitise(name) or "context"
                if strict:
                    raise FatalError(
                        f"{path}: context {part.context!r} is not a valid entry name",
                        hint=f"without --strict it would be imported as {fixed!r}",
                    )
                base, n = fixed, 2
                while fixed in planned:
                    suffix = f"-{n}"
                    fixed, n = base[: MAX_NAME - len(suffix)] + suffix, n + 1
                report.renamed.append((part.context, fixed))
                name = fixed
            if name in planned:
                report.skipped.append((part.context, f"another context in this import is also named {name!r}"))
                continue
            planned[name] = (kubeconfig.entry_document(name, part), source, part.context)

        self._prepare()
        with file_lock(paths.lock_file()):
            index = self._locked_index()
            conflicts = []
            writes: list[tuple[str, str]] = []
            for name, (doc, source, context) in planned.items():
                text = kubeconfig.yaml_dump(doc)
                if name in index:
                    current = _read_text(self._file(name))
                    if current == text:
                        report.unchanged.append(name)
                        continue
                    if not force:
                        conflicts.append(name)
                        continue
                    report.updated.append(name)
                else:
                    report.imported.append(name)
                writes.append((name, text))
            if conflicts:
                shown = ", ".join(conflicts[:5]) + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
                raise FatalError(
                    f"the store already has different entries named {shown}; nothing was imported",
                    hint="--force replaces them, --prefix P imports under other names",
                )
            # Stage every file first: a full disk fails here, before anything in the store changed.
            staged = stage_batch(self.dir, [(name + ".yaml", text.encode("utf-8")) for name, text in writes])
            for (tmp, _), (name, _) in zip(staged, writes):
                os.replace(tmp, self._file(name))
            for (_, st), (name, _) in zip(staged, writes):
                doc, source, context = planned[name]
                old = index.get(name, {})
                rec = {"pin": old.get("pin"), "source": source, "context": context}
                if tier:
                    rec["tier"], rec["tier_source"] = tier, {"by": "--tier"}
                elif _chosen(old):
                    rec["tier"], rec["tier_source"] = old["tier"], old.get("tier_source") or {"by": "kctx tier"}
                # Otherwise _derive infers it from the context, cluster and server names.
                index[name] = self._derive(name, rec, st, doc)
            if tier:
                for name in report.unchanged:
                    index[name] = {**index[name], "tier": tier, "tier_source": {"by": "--tier"}}
            if writes or tier:
                idx.write(index)
        return report


def _chosen(rec: dict[str, Any]) -> bool:
    """The tier of this record was set by a person (--tier, kctx tier), not inferred."""
    by = (rec.get("tier_source") or {}).get("by")
    if by is None:  # indexed before tiers had sources: only a tier other than none was chosen
        return bool(rec.get("tier")) and rec.get("tier") != "none"
    return by in ("--tier", "kctx tier")


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None
