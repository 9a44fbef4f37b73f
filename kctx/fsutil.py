"""Atomic private writes, private folders and the store lock: the one place for each.

On the hot paths (`kctx use`, `k`): imports nothing beyond os.
"""

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def read_marshal(path: str) -> "Any":
    """A marshal file's value: the one way kctx reads its caches and the index's hot copies.

    marshal.loads(f.read()), never marshal.load(f): that reads a file object in small pieces,
    ten times slower for a big file. Raises OSError, EOFError, ValueError or TypeError."""
    import marshal  # built in: costs nothing

    with open(path, "rb") as f:
        return marshal.loads(f.read())


def ensure_dir(path: str) -> str:
    """Create `path` (and parents) as 0700 folders; tighten an existing one we own."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except FileExistsError:
        pass
    st = os.stat(path)
    if st.st_mode & 0o077 and st.st_uid == os.getuid():
        os.chmod(path, 0o700)
    return path


def stage(path: str, data: bytes | str, mode: int = 0o600, fsync: bool = True, ensure: bool = True) -> str:
    """Write `data` to a temp file beside `path` and return its name; nothing is left on failure.

    ensure=False: the caller made the folder private already (a batch of thousands of files).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder = os.path.dirname(path)
    if ensure:
        ensure_dir(folder)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed it, or the caller wants 0755
    except BaseException:
        discard(tmp)
        raise
    return tmp


def stage_batch(folder: str, files: list[tuple[str, bytes]]) -> list[tuple[str, os.stat_result]]:
    """Write each (name, data) to a 0600 temp file in `folder` (private already), and flush them
    all with one sync: [(temp file, its stat)], for os.replace. Nothing is left on failure.

    For thousands of files at once (kctx import): one sync instead of an fsync per file, and
    no chmod per file unless the umask takes bits from 0600."""
    umask = os.umask(0o077)
    os.umask(umask)
    tmps: list[str] = []
    stats: list[os.stat_result] = []
    tag = f"{os.getpid()}.{os.urandom(4).hex()}"
    try:
        for name, data in files:
            tmp = f"{folder}{os.sep}.{name}.{tag}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            tmps.append(tmp)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if umask & 0o600:
                    os.fchmod(fd, 0o600)
                stats.append(os.fstat(fd))  # the mtime and size the index records
            finally:
                os.close(fd)
        if tmps:
            os.sync()
    except BaseException:
        for tmp in tmps:
            discard(tmp)
        raise
    return list(zip(tmps, stats))


def discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def atomic_write(path: str, data: bytes | str, mode: int = 0o600, fsync: bool = True) -> None:
    """Write to a temp file in the same folder, then os.replace: readers see old or new, never half.

    0600 unless told otherwise, in a 0700 folder. fsync=False for caches and per-shell state,
    which may be lost in a crash but never seen half-written.
    """
    tmp = stage(path, data, mode, fsync)
    try:
        os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise


class file_lock:  # lower case: used like a function, `with file_lock(path):`
    """An exclusive advisory lock held for the duration of the block (flock on `path`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        import fcntl

        ensure_dir(os.path.dirname(self.path))
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing releases the flock
