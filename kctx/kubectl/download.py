"""Getting kubectl from a mirror laid out like dl.k8s.io: verified, then installed atomically.

`release/vX.Y.Z/bin/<os>/<arch>/kubectl` with `.sha256` and `.sha512` beside it, and
`release/stable-X.Y.txt` naming the newest patch of a minor. The mirror is
`KCTX_KUBECTL_MIRROR`, else the config's `kubectl.mirror`, else https://dl.k8s.io; it may be
an https:// URL (system trust store plus SSL_CERT_FILE), a file:// URL or a local folder.

Nothing can run a binary before its digests matched: it is written to a temp file in the
version's folder, hashed while it streams, checked, fsynced and only then renamed to
`kubectl`. Every failure leaves no temp file and no install behind, and says so in one line.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from kctx import paths
from kctx.errors import FatalError
from kctx.kubectl import installed, versions

if TYPE_CHECKING:
    import ssl

DEFAULT_MIRROR = "https://dl.k8s.io"
ATTEMPTS = 3  # one try and two retries for transient errors
BACKOFF = (0.3, 1.0)
CHUNK = 1 << 16
DIGESTS = (("sha256", 64), ("sha512", 128))


class NotFound(Exception):
    """The mirror has no such file (HTTP 404, or missing from a local mirror)."""


class Transient(Exception):
    """Worth another try: resets, truncated bodies, HTTP 5xx and 429 (a timeout is not retried)."""

    def __init__(self, message: str, again: bool = True) -> None:
        super().__init__(message)
        self.again = again


class DownloadError(FatalError):
    """A download failed; nothing was installed."""


def system_ssl_context() -> ssl.SSLContext:
    """The system trust store plus SSL_CERT_FILE / SSL_CERT_DIR (certifi when the system has none)."""
    import ssl

    ctx = ssl.create_default_context()  # OpenSSL reads SSL_CERT_FILE/SSL_CERT_DIR instead of its defaults...
    defaults = ssl.get_default_verify_paths()
    for cafile in (defaults.openssl_cafile, os.environ.get("SSL_CERT_FILE")):
        if cafile and os.path.isfile(cafile):
            ctx.load_verify_locations(cafile=cafile)  # ...so load both: system trust and the extra file
    for capath in (defaults.openssl_capath, os.environ.get("SSL_CERT_DIR")):
        if capath and os.path.isdir(capath):
            ctx.load_verify_locations(capath=capath)
    if not ctx.cert_store_stats().get("x509_ca") and not (
        defaults.openssl_capath and os.path.isdir(defaults.openssl_capath)
    ):
        try:
            import certifi

            ctx.load_verify_locations(cafile=certifi.where())
        except (ImportError, OSError):
            pass
    return ctx


def mirror_url() -> str:
    """The configured mirror, without a trailing slash."""
    value = os.environ.get("KCTX_KUBECTL_MIRROR")
    if not value:
        from kctx import config

        value = str(config.load()["kubectl"]["mirror"] or DEFAULT_MIRROR)
    return value.rstrip("/") or "/"


def platform() -> tuple[str, str]:
    """(os, arch) as dl.k8s.io names them."""
    import platform as _platform

    system = sys.platform
    osname = "linux" if system.startswith("linux") else "darwin" if system == "darwin" else system
    machine = _platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    if osname not in ("linux", "darwin") or arch not in ("amd64", "arm64"):
        raise FatalError(f"no kubectl downloads for {osname}/{arch}",
                         hint="kctx downloads kubectl for linux and darwin on amd64 and arm64; set KCTX_KUBECTL")
    return osname, arch


def artifact_path(version: str) -> str:
    """The binary's path below the mirror, e.g. release/v1.30.4/bin/linux/amd64/kubectl."""
    osname, arch = platform()
    return f"release/v{version}/bin/{osname}/{arch}/kubectl"


# -- reading from a mirror ----------------------------------------------------------------------


class Mirror:
    """One mirror: https:// (or http://) URL, file:// URL or local folder."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.local: str | None = None
        if url.startswith("file://"):
            from urllib.parse import unquote, urlsplit

            self.local = unquote(urlsplit(url).path)
        elif "://" not in url:
            self.local = os.path.abspath(os.path.expanduser(url))
        elif not url.startswith(("https://", "http://")):
            raise FatalError(f"unsupported kubectl mirror {url!r}",
                             hint="use an https:// or file:// URL, or a local folder")
        self._client: Any = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()

    def where(self, rel: str) -> str:
        return os.path.join(self.local, rel) if self.local is not None else f"{self.url}/{rel}"

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                verify=system_ssl_context(), follow_redirects=True,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                headers={"User-Agent": "kctx"},
            )
        return self._client

    def stream(self, rel: str, sink: Callable[[bytes], None], total: Callable[[int | None], None] | None = None) -> None:
        """Feed the file's bytes to `sink`; NotFound, Transient or DownloadError otherwise."""
        if self.local is not None:
            try:
                with open(self.where(rel), "rb") as f:
                    if total:
                        total(os.fstat(f.fileno()).st_size)
                    while chunk := f.read(CHUNK):
                        sink(chunk)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise NotFound(self.where(rel)) from None
            except PermissionError as e:
                raise DownloadError(f"cannot read {self.where(rel)}: {e.strerror}") from None
            return
        import httpx

        try:
            with self._http().stream("GET", self.where(rel)) as r:
                if r.status_code == 404:
                    raise NotFound(self.where(rel))
                if r.status_code >= 500 or r.status_code == 429:
                    raise Transient(f"HTTP {r.status_code}")
                if r.status_code != 200:
                    raise DownloadError(f"{self.where(rel)}: HTTP {r.status_code}")
                length = r.headers.get("content-length")
                encoded = r.headers.get("content-encoding", "identity") != "identity"
                expected = int(length) if length and length.isdigit() and not encoded else None
                if total:
                    total(expected)
                got = 0
                for chunk in r.iter_bytes(CHUNK):
                    got += len(chunk)
                    sink(chunk)
                if expected is not None and got != expected:
                    raise Transient(f"truncated: got {got} of {expected} bytes")
        except httpx.TimeoutException:
            # A mirror that said nothing for that long will not answer a retry sooner.
            raise Transient(f"no answer within {self.timeout:g} s", again=False) from None
        except httpx.TransportError as e:
            text = str(e).strip().splitlines()
            reason = text[-1] if text else type(e).__name__
            if "CERTIFICATE_VERIFY_FAILED" in reason:
                raise DownloadError(f"{self.url}: TLS certificate not trusted ({reason})",
                                    hint="set SSL_CERT_FILE to the mirror's CA bundle") from None
            raise Transient(reason) from None

    def fetch(self, rel: str, limit: int = 1 << 16) -> bytes:
        """A small file (a digest, stable-X.Y.txt), retried like the binary."""
        parts: list[bytes] = []
        size = [0]

        def sink(chunk: bytes) -> None:
            size[0] += len(chunk)
            if size[0] > limit:
                raise DownloadError(f"{self.where(rel)}: larger than expected")
            parts.append(chunk)

        def attempt() -> bytes:
            parts.clear()
            size[0] = 0
            self.stream(rel, sink)
            return b"".join(parts)

        return retry(attempt)


def retry(fn: Callable[[], Any]) -> Any:
    """fn(), again after a transient error, ATTEMPTS times in all."""
    for i in range(ATTEMPTS):
        try:
            return fn()
        except Transient as e:
            if i == ATTEMPTS - 1 or not e.again:
                raise
            time.sleep(BACKOFF[min(i, len(BACKOFF) - 1)])
    raise AssertionError("unreachable")


# -- what to download ---------------------------------------------------------------------------


def _timeout() -> float:
    from kctx import config

    try:
        return float(config.load()["kubectl"]["download_timeout"])
    except (KeyError, TypeError, ValueError):
        return 30.0


def newest_patch(minor: str, mirror: Mirror | None = None) -> str:
    """The newest release of a minor ('1.31' → '1.31.9'), from release/stable-1.31.txt."""
    own = mirror is None
    m = mirror or Mirror(mirror_url(), _timeout())
    rel = f"release/stable-{minor}.txt"
    try:
        text = m.fetch(rel, limit=256).decode("ascii", "replace").strip()
    except NotFound:
        raise DownloadError(f"the mirror knows no kubectl {minor}: {m.where(rel)} is missing") from None
    except Transient as e:
        raise DownloadError(f"cannot read {m.where(rel)}: {e}") from None
    finally:
        if own:
            m.__exit__()
    try:
        found = versions.normalise(text)
    except ValueError:
        raise DownloadError(f"{m.where(rel)} does not name a version: {text[:40]!r}") from None
    if versions.major_minor(found) != versions.major_minor(minor) or versions.is_minor_only(found):
        raise DownloadError(f"{m.where(rel)} names {text!r}, not a {minor} release")
    return found


# -- installing ---------------------------------------------------------------------------------


class _Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self.total: int | None = None
        self.done = 0
        self.last = 0.0

    def start(self, total: int | None) -> None:
        self.total, self.done = total, 0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self.last >= 0.1 or (self.total and self.done >= self.total)):
            self.last = now
            mb = self.done / 1e6
            if self.total:
                frac = min(self.done / self.total, 1.0)
                bar = "#" * int(frac * 24)
                line = f"{self.label} [{bar:<24}] {frac * 100:3.0f}% {mb:5.1f}/{self.total / 1e6:.1f} MB"
            else:
                line = f"{self.label} {mb:5.1f} MB"
            sys.stderr.write("\r" + line + "\x1b[K")
            sys.stderr.flush()

    def end(self) -> None:
        if self.enabled and self.last:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _digest_text(data: bytes, algo: str, size: int, where: str) -> str:
    words = data.decode("ascii", "replace").split()
    value = words[0].lower() if words else ""
    if len(value) != size or any(c not in "0123456789abcdef" for c in value):
        raise DownloadError(f"{where} does not hold a {algo} digest; nothing was installed")
    return value


def _fetch_digests(m: Mirror, rel: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for algo, size in DIGESTS:
        try:
            found[algo] = _digest_text(m.fetch(f"{rel}.{algo}", limit=1024), algo, size, m.where(f"{rel}.{algo}"))
        except NotFound:
            continue
    if not found:
        raise DownloadError(f"the mirror has neither {rel}.sha256 nor .sha512; "
                            "kctx installs no unverified kubectl, nothing was installed")
    return found


def _download_to(m: Mirror, rel: str, tmp: str, progress: _Progress) -> dict[str, str]:
    """Write the artifact to `tmp` (created here, 0600); return its digests."""

    def attempt() -> dict[str, str]:
        hashes = {"sha256": hashlib.sha256(), "sha512": hashlib.sha512()}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:

            def sink(chunk: bytes) -> None:
                f.write(chunk)
                for h in hashes.values():
                    h.update(chunk)
                progress.add(len(chunk))

            m.stream(rel, sink, progress.start)
            f.flush()
            os.fsync(f.fileno())
        return {k: h.hexdigest() for k, h in hashes.items()}

    return retry(attempt)


def install(version: str, *, progress: bool | None = None, mirror: str | None = None) -> str:
    """Install one exact kubectl release unless it is installed already; its path.

    NotFound when the mirror has no such artifact; DownloadError for every other failure.
    """
    version = versions.normalise(version)
    if versions.is_minor_only(version):
        raise ValueError("install() takes an exact release; resolve a minor with newest_patch()")
    dest = paths.kubectl_binary(version)
    if os.path.isfile(dest):
        return dest
    from kctx.fsutil import ensure_dir, file_lock

    # Per-version lock: a second `k` waits for the first download, then finds it installed.
    with file_lock(paths.kubectl_install_lock(version)):
        if os.path.isfile(dest):
            return dest
        folder = os.path.dirname(dest)
        url = mirror or mirror_url()
        rel = artifact_path(version)
        # Staged outside the kubectl folder, so that a failed download leaves it untouched.
        tmp = os.path.join(ensure_dir(paths.kubectl_staging_dir()), f".kubectl-{version}.{os.getpid()}."
                           f"{os.urandom(4).hex()}.tmp")
        show = sys.stderr.isatty() if progress is None else progress
        bar = _Progress(f"kctx: kubectl v{version}", show)
        try:
            with Mirror(url, _timeout()) as m:
                try:
                    got = _download_to(m, rel, tmp, bar)
                finally:
                    bar.end()
                expected = _fetch_digests(m, rel)
            for algo, want in expected.items():
                if got[algo] != want:
                    raise DownloadError(
                        f"kubectl v{version} from {m.where(rel)} does not match its .{algo} "
                        f"(expected {want[:16]}…, got {got[algo][:16]}…); nothing was installed")
            if os.path.getsize(tmp) == 0:
                raise DownloadError(f"{m.where(rel)} is empty; nothing was installed")
            from kctx.fsutil import atomic_write

            ensure_dir(paths.kubectl_cache_dir())
            ensure_dir(folder)
            atomic_write(dest + ".sha256", got["sha256"] + "\n", mode=0o644, fsync=False)
            os.chmod(tmp, 0o755)
            os.replace(tmp, dest)  # the binary appears whole, verified, or not at all
            _fsync_dir(folder)
            return dest
        except NotFound:
            raise
        except Transient as e:
            raise DownloadError(f"cannot download kubectl v{version} from {url}: {e}; nothing was installed") from None
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise DownloadError(f"no space left in {paths.kubectl_cache_dir()} for kubectl v{version}; "
                                    "nothing was installed") from None
            raise DownloadError(f"cannot install kubectl v{version}: {e.strerror or e}; nothing was installed") from None
        finally:
            for leftover in (tmp,):
                try:
                    os.unlink(leftover)
                except FileNotFoundError:
                    pass
            if not os.path.isfile(dest):
                for extra in (dest + ".sha256",):
                    try:
                        os.unlink(extra)
                    except FileNotFoundError:
                        pass
                try:
                    os.rmdir(folder)
                except OSError:
                    pass


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure(wanted: str, *, progress: bool | None = None, force: bool = False) -> tuple[str, str]:
    """(path, version) of kubectl `wanted` ('1.30.4' or '1.30'), installing it when needed.

    An exact release the mirror lacks falls back to the newest patch of its minor
    (release/stable-X.Y.txt), remembered so later calls ask the mirror nothing. A failure is
    remembered (kctx.kubectl.failures): until its back-off ends, DownloadError at once, without
    asking the mirror, unless `force`.
    """
    wanted = versions.normalise(wanted)
    found = installed.installed_path(wanted)
    if found:
        return found
    from kctx.kubectl import failures

    if not force:
        wait = failures.waiting(wanted)
        if wait:
            rec = failures.last(wanted)
            ago = failures.age(time.time() - rec[0]) if rec else "?"
            raise DownloadError(f"{wait[1]} ({ago} ago; next try in {failures.age(wait[0])}, "
                                f"or now: kctx kubectl install {wanted})")
    try:
        got = _ensure(wanted, progress)
    except NotFound as e:
        failures.record(wanted, f"the mirror has no {e}")
        raise DownloadError(f"the mirror has no {e}") from None
    except DownloadError as e:
        failures.record(wanted, e.message)
        raise
    failures.clear(wanted)
    return got


def _ensure(wanted: str, progress: bool | None) -> tuple[str, str]:
    if versions.is_minor_only(wanted):
        exact = newest_patch(wanted)
        return install(exact, progress=progress), exact
    try:
        return install(wanted, progress=progress), wanted
    except NotFound:
        mm = versions.major_minor(wanted)
        try:
            newest = newest_patch(f"{mm[0]}.{mm[1]}") if mm else wanted
        except DownloadError as e:
            raise DownloadError(f"the mirror has no kubectl v{wanted} for {'/'.join(platform())}, "
                                f"and {e.message}") from None
        if newest == wanted:
            raise DownloadError(f"the mirror has no kubectl v{wanted} for {'/'.join(platform())}") from None
        try:
            path = install(newest, progress=progress)
        except NotFound:
            raise DownloadError(f"the mirror has neither kubectl v{wanted} nor v{newest} "
                                f"for {'/'.join(platform())}") from None
        try:
            installed.save_alias(wanted, newest)
        except OSError:
            pass
        return path, newest


def remove(version: str) -> int:
    """Delete one installed version; bytes freed."""
    import shutil

    from kctx.fsutil import file_lock

    version = versions.normalise(version)
    folder = os.path.dirname(paths.kubectl_binary(version))
    freed = 0
    with file_lock(paths.kubectl_install_lock(version)):
        for root, _dirs, files in os.walk(folder):
            for f in files:
                try:
                    freed += os.lstat(os.path.join(root, f)).st_size
                except OSError:
                    pass
        shutil.rmtree(folder, ignore_errors=True)
    # The lock file stays: unlinking it could let a waiter and a newcomer hold "the" lock at once.
    return freed


def verify_installed(version: str) -> bool | None:
    """Does the installed binary still match the digest recorded at install? None: nothing recorded."""
    path = paths.kubectl_binary(version)
    try:
        with open(path + ".sha256", encoding="ascii") as f:
            want = f.read().strip()
    except OSError:
        return None
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return False
    return h.hexdigest() == want
