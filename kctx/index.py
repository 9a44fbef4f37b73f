"""The store's index: the one module that reads and writes it.

`index.json` maps each entry name to its record: what only kctx knows (tier, pinned kubectl,
source file, original context name) and, as a cache, what is derived from the entry file
(server, cluster, user, namespace, or the error reading it), stamped with the file's mtime and
size so a changed file is read again. `index.bin` is a marshal copy of the same document for
the hot paths, which read it without importing json or yaml. (marshal.loads(f.read()), never
marshal.load(f): that reads a file object in small pieces, ten times slower for a big file.)

Decoding all of index.bin grows with the store (tens of ms at 10,000 entries), so one entry is
found through a lookup table derived from it (the names in one bytes string, offsets, each
record marshalled on its own: a bytes.find and one small decode), and each entry used is
remembered in a tiny file of its own. Both are stamped with index.bin's stat and rebuilt when
it changes. Records are plain dicts with the keys in RECORD_KEYS; other modules add keys here.

Readers that cannot get an answer here (no index, a damaged one, an entry file changed since it
was indexed) get `Stale` and ask the store, which re-derives and rewrites the index.
"""

import marshal
import os

from kctx import paths
from kctx.fsutil import atomic_write, read_marshal

TYPE_CHECKING = False  # no typing (nor __future__) at run time: each costs every `k`
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any
else:
    Any = object

VERSION = 1  # of index.json / index.bin
_TABLE_VERSION = 7  # of the lookup table, its records file and the per-entry copies
_RECORDS_HEAD = 128  # bytes: the records file starts with (version, stamp), marshalled, zero-padded

# What a record holds. kctx knows: tier, tier_source (how the tier was decided: kctx.names), pin,
# source, context (the name in the source file). Derived from the entry file: server, cluster,
# user, namespace, error, server_key (the server URL normalised: kctx.identity), the CA
# fingerprints (ca_sha256 of the first CA certificate, ca_bundle of all when several), and the facts in the names (kctx.names.FACTS:
# eks_account, gke_project...); mtime_ns and size are the entry file's stamp.
RECORD_KEYS = ("tier", "tier_source", "pin", "source", "context", "server", "cluster", "user", "namespace",
               "error", "server_key", "ca_sha256", "ca_bundle", "mtime_ns", "size", "eks_account", "eks_region", "gke_project",
               "gke_location", "aks_resource_group", "aks_region", "openshift_user", "openshift_namespace")


class Stale(Exception):
    """The index cannot answer (missing, unreadable, or the entry file changed): ask the store."""


# -- the document ---------------------------------------------------------------------------------
def read() -> dict[str, dict[str, Any]]:
    """Every record from index.json; {} when there is none or it is damaged (the store rebuilds it)."""
    import json

    try:
        with open(paths.index_file(), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("entries"), dict):
        return data["entries"]
    return {}


def current() -> dict[str, dict[str, Any]]:
    """Every record, from the hot copy when it is current (no json decode), else index.json.

    The hot copy is written after index.json, so it is current unless index.json is newer.
    For reading only: a change reads index.json under the store lock (read()).
    """
    try:
        if os.stat(paths.hot_index_file()).st_mtime_ns >= os.stat(paths.index_file()).st_mtime_ns:
            return hot()
    except (OSError, Stale):
        pass
    return read()


def write(entries: dict[str, dict[str, Any]]) -> None:
    """Write index.json and its hot copy index.bin (the caller holds the store lock)."""
    import json

    ordered = dict(sorted(entries.items()))
    doc = {"version": VERSION, "entries": ordered}
    # One entry per line: readable, and json's C encoder (indent= would take the Python one,
    # ten times slower with 10,000 entries).
    dump = json.JSONEncoder(ensure_ascii=False).encode
    lines = [f" {dump(name)}: {dump(rec)}" for name, rec in ordered.items()]
    text = f'{{"version": {VERSION}, "entries": {{' + ("\n" + ",\n".join(lines) + "\n" if lines else "") + "}}\n"
    atomic_write(paths.index_file(), text)
    atomic_write(paths.hot_index_file(), marshal.dumps(doc), fsync=False)


def _decode(data: object) -> dict[str, dict[str, Any]] | None:
    if isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("entries"), dict):
        return data["entries"]
    return None


def hot() -> dict[str, dict[str, Any]]:
    """Every record, from index.bin; {} when the store has no entries folder; else Stale when unreadable."""
    try:
        entries = _decode(read_marshal(paths.hot_index_file()))
    except FileNotFoundError:
        if not os.path.isdir(paths.entries_dir()):
            return {}
        raise Stale from None
    except (OSError, EOFError, ValueError, TypeError):
        raise Stale from None
    if entries is None:
        raise Stale
    return entries


# -- one entry, fast ------------------------------------------------------------------------------
def _stat(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


def _printable(value: object) -> str:
    return value if isinstance(value, str) and value.isprintable() else ""


def _build_tables(stamp: tuple) -> tuple[tuple, tuple, tuple]:
    """The lookup table, the listing and the columns, made from index.bin and written (each a
    file of its own); returned even when the cache folder cannot be written."""
    try:
        entries = _decode(read_marshal(paths.hot_index_file()))
    except (OSError, EOFError, ValueError, TypeError):
        raise Stale from None
    if entries is None:
        raise Stale
    names = sorted(entries)
    offsets, blobs, pos = [_offset(0)], [], 0
    for name in names:
        blob = marshal.dumps(entries[name])
        blobs.append(blob)
        pos += len(blob)
        offsets.append(_offset(pos))
    tiers = "\n".join(str(entries[n].get("tier") or "") for n in names)
    namespaces = "\n".join(_printable(entries[n].get("namespace")) for n in names)
    # Each entry's original context name (`kctx use arn:aws:eks:...` finds the entry by it).
    contexts = "\n".join(_printable(entries[n].get("context")) for n in names).encode()
    # The records themselves go to a file of their own, read by offset: a first `kctx use` of an
    # entry reads its record, not the 3 MB of 10,000 records (bench/use.py).
    head = marshal.dumps((_TABLE_VERSION, stamp))
    records = head + b"\0" * (_RECORDS_HEAD - len(head)) + b"".join(blobs)
    table = (_TABLE_VERSION, stamp, "\n".join(names).encode(), b"".join(offsets), b"", tiers, namespaces, contexts)
    # What `kctx list` shows, column by column (marshal decodes lists of strings far faster than
    # 10,000 records), in a file of its own so that `kctx use` does not read it.
    listing = (_TABLE_VERSION, stamp, names, tuple([entries[n].get(key) for n in names] for key in LISTING_KEYS))
    # Names, tiers and namespaces alone (completion, the API guard's protected servers): a tenth of
    # the lookup table, which carries every record (bench/use.py: `kctx use` at 10,000 entries),
    # and the names of each tier, so that the API guard's protected-server check splits the names
    # of the protected tiers only.
    by_tier: dict[str, list[str]] = {}
    for n in names:
        by_tier.setdefault(str(entries[n].get("tier") or ""), []).append(n)
    cols = (_TABLE_VERSION, stamp, table[2], tiers, namespaces, {t: "\n".join(ns) for t, ns in by_tier.items()})
    try:
        atomic_write(paths.entries_records_file(), records, fsync=False)  # before the table naming it
        atomic_write(paths.entries_lookup_file(), marshal.dumps(table), fsync=False)
        atomic_write(paths.entries_listing_file(), marshal.dumps(listing), fsync=False)
        atomic_write(paths.entries_columns_file(), marshal.dumps(cols), fsync=False)
    except OSError:
        pass  # a read-only cache only costs speed
    return table, listing, cols


def _table() -> tuple:
    """The lookup table, current with index.bin; Stale when the index cannot be read."""
    try:
        stamp = _stat(paths.hot_index_file())
    except OSError:
        raise Stale from None
    try:
        table = read_marshal(paths.entries_lookup_file())
        if isinstance(table, tuple) and len(table) == 8 and table[0] == _TABLE_VERSION and table[1] == stamp:
            return table
    except (OSError, EOFError, ValueError, TypeError):
        pass
    return _build_tables(stamp)[0]


def _offset(pos: int) -> bytes:
    """A record's end in the records file, as the lookup table holds it: 4 bytes, little-endian
    (read with int.from_bytes: `array` would import collections, ~3 ms of every `kctx use`)."""
    return pos.to_bytes(4, "little")


def _from_table(name: str) -> tuple[tuple, dict[str, Any] | None]:
    table = _table()
    names = table[2]
    i = (b"\n" + names + b"\n").find(b"\n" + name.encode() + b"\n")
    if i < 0:
        return table[1], None
    k = names.count(b"\n", 0, i)
    start = int.from_bytes(table[3][4 * k:4 * k + 4], "little")
    end = int.from_bytes(table[3][4 * k + 4:4 * k + 8], "little")
    try:
        fd = os.open(paths.entries_records_file(), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return _from_table_built(name)
    try:
        head = os.pread(fd, _RECORDS_HEAD, 0)
        blob = os.pread(fd, end - start, _RECORDS_HEAD + start)
    finally:
        os.close(fd)
    if marshal.loads(head) != (_TABLE_VERSION, table[1]):  # another process rebuilt the files meanwhile
        return _from_table_built(name)
    rec = marshal.loads(blob)
    return table[1], rec if isinstance(rec, dict) else None


def _from_table_built(name: str) -> tuple[tuple, dict[str, Any] | None]:
    """Entry `name`'s record from the index itself (the lookup files were being rewritten)."""
    try:
        stamp = _stat(paths.hot_index_file())
    except OSError:
        raise Stale from None
    rec = hot().get(name)
    return stamp, rec if isinstance(rec, dict) else None


def record(name: str) -> dict[str, Any] | None:
    """Entry `name`'s record, or None when the index has no such entry.

    Raises Stale when the index cannot be read or the entry file changed since it was indexed.
    `name` must be a valid entry name (it becomes a file name).
    """
    try:
        entry_stat = _stat(paths.entry_file(name))
    except FileNotFoundError:
        entry_stat = None
    except OSError:
        raise Stale from None
    own = paths.entry_record_file(name)
    try:
        index_stat = _stat(paths.hot_index_file())
        version, stamps, rec = read_marshal(own)
        if version == _TABLE_VERSION and stamps == (index_stat, entry_stat) and entry_stat is not None:
            return rec
    except (OSError, EOFError, ValueError, TypeError):
        pass
    try:
        index_stat, rec = _from_table(name)
    except (OSError, EOFError, ValueError, TypeError):
        raise Stale from None
    if rec is None:
        return None
    if entry_stat is None or (rec.get("mtime_ns"), rec.get("size")) != entry_stat[:2]:
        raise Stale
    try:
        atomic_write(own, marshal.dumps((_TABLE_VERSION, (index_stat, entry_stat), rec)), fsync=False)
    except OSError:
        pass  # a read-only cache only costs speed
    return rec


def by_context(context: str) -> list[str]:
    """The entries imported from a context named `context` (several when files shared a name).

    Raises Stale when the index cannot be read."""
    try:
        table = _table()
    except (OSError, EOFError, ValueError, TypeError):
        raise Stale from None
    if not context.isprintable() or "\n" in context:
        return []
    key = b"\n" + context.encode() + b"\n"
    hay = b"\n" + table[7] + b"\n"
    names = table[2].split(b"\n")
    found, i = [], hay.find(key)
    while i >= 0:
        found.append(names[hay.count(b"\n", 0, i)].decode())
        i = hay.find(key, i + 1)
    return found


LISTING_KEYS = ("tier", "server", "namespace", "error", "pin", "mtime_ns", "size")


def listing(is_entry_name: "Callable[[str], bool]") -> tuple[list[str], dict[str, list[Any]]]:
    """Entry names sorted, and per key of LISTING_KEYS its value for each: `kctx list` without
    decoding every record. Raises Stale when the index cannot be read or the entry files are not
    the ones it describes (one added, removed or changed: one stat each, as the store checks)."""
    try:
        stamp = _stat(paths.hot_index_file())
    except OSError:
        raise Stale from None
    try:
        listing = read_marshal(paths.entries_listing_file())
        if not (isinstance(listing, tuple) and len(listing) == 4 and listing[0] == _TABLE_VERSION
                and listing[1] == stamp):
            raise ValueError
    except (OSError, EOFError, ValueError, TypeError):
        try:
            listing = _build_tables(stamp)[1]
        except (OSError, EOFError, ValueError, TypeError):
            raise Stale from None
    names, cols = listing[2], dict(zip(LISTING_KEYS, listing[3]))
    if not _files_match(dict(zip(names, zip(cols["mtime_ns"], cols["size"]))), is_entry_name):
        raise Stale
    return names, cols


def _files_match(stamps: dict[str, tuple[int, int]], is_entry_name: "Callable[[str], bool]") -> bool:
    """The entry files are those of `stamps` ({name: (mtime_ns, size)}), none changed; a file
    whose name is no entry name (the store ignores it) does not count."""
    seen = 0
    try:
        with os.scandir(paths.entries_dir()) as it:
            for de in it:
                if de.name[-5:] != ".yaml":
                    continue
                stamp = stamps.get(de.name[:-5])
                if stamp is None:
                    if is_entry_name(de.name[:-5]):
                        return False
                    continue
                st = de.stat()
                if st.st_mtime_ns != stamp[0] or st.st_size != stamp[1]:
                    return False
                seen += 1
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return seen == len(stamps)


def _columns() -> tuple:
    """The columns file, current with index.bin; Stale when the index cannot be read."""
    try:
        stamp = _stat(paths.hot_index_file())
    except OSError:
        raise Stale from None
    try:
        cols = read_marshal(paths.entries_columns_file())
        if isinstance(cols, tuple) and len(cols) == 6 and cols[0] == _TABLE_VERSION and cols[1] == stamp:
            return cols
    except (OSError, EOFError, ValueError, TypeError):
        pass
    try:
        return _build_tables(stamp)[2]
    except (OSError, EOFError, ValueError, TypeError):
        raise Stale from None


def with_tier(keep: "Callable[[str], bool]") -> list[str]:
    """The entries whose tier ('' when none) passes `keep`, sorted by name within each tier: a
    few tiers are asked, not 10,000 entries."""
    names: list[str] = []
    for tier, joined in _columns()[5].items():
        if keep(tier):
            names += joined.split("\n")
    return names


def columns() -> tuple[list[str], list[str], list[str]]:
    """Entry names, their tiers and their namespaces ('' when none), sorted by name: for completion."""
    cols = _columns()
    try:
        names = cols[2].decode().split("\n") if cols[2] else []
    except UnicodeDecodeError:
        raise Stale from None
    if not names:
        return [], [], []
    return names, cols[3].split("\n"), cols[4].split("\n")
