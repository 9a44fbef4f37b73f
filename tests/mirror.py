"""A local HTTPS mirror of the kubectl download layout of dl.k8s.io.

Serves `release/vX.Y.Z/bin/{linux,darwin}/{amd64,arm64}/kubectl` with `kubectl.sha256` and
`kubectl.sha512` beside it (bare hex digests), `release/stable.txt` and
`release/stable-X.Y.txt`, on https://127.0.0.1:PORT with the shared test CA (point
`SSL_CERT_FILE` at `ca.pem_path`). The same tree is laid out on disk under `root_dir` for
`file://` mirrors. Faults per version: tampered digests, truncated bodies, 404s, 503s, delays.
"""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from fakeapi.tls import BaseHandler, Served, SharedCA, TLSHTTPServer, session_ca

__all__ = ["PLATFORMS", "HangingSocket", "KubectlMirror", "MirrorRequest", "file_digests", "refused_url"]

PLATFORMS: tuple[tuple[str, str], ...] = (
    ("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64"),
)
CHUNK = 1 << 20

_digest_lock = threading.Lock()
_digests: dict[tuple[str, int, int], tuple[str, str]] = {}


def file_digests(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(sha256, sha512) hex digests of a file, cached per process (kubectl is 60 MB)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if key not in _digests:
            h256, h512 = hashlib.sha256(), hashlib.sha512()
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    h256.update(chunk)
                    h512.update(chunk)
            _digests[key] = (h256.hexdigest(), h512.hexdigest())
        return _digests[key]


@dataclass(frozen=True)
class MirrorRequest:
    """One request the mirror received, and the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    time: float


@dataclass
class _File:
    """What the mirror serves at one path."""

    data: bytes | None = None  # small files (digests, stable.txt)
    source: Path | None = None  # the binary, streamed from its original path
    truncate: bool = False
    fail_times: int = 0  # answer 503 this many more times
    slow: float = 0.0  # seconds to wait before answering
    size: int = 0


class KubectlMirror(Served):
    """dl.k8s.io look-alike on https://127.0.0.1:PORT, recording every request.

    `url` is the base to use in place of https://dl.k8s.io; `file_url` is a file:// URL to the
    same tree on disk (under `root_dir`).
    """

    def __init__(self, root_dir: str | os.PathLike[str], ca: SharedCA | None = None) -> None:
        self.root = Path(root_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ca = ca or session_ca()
        self._files: dict[str, _File] = {}
        self._stable_minor: dict[str, str] = {}  # "1.37" -> "1.37.1"
        self._stable: str | None = None
        self._stable_pinned = False
        self._requests: list[MirrorRequest] = []
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------

    thread_name = "kubectl-mirror"

    def _make_server(self) -> TLSHTTPServer:
        handler = type("Handler", (_MirrorHandler,), {"mirror": self})
        return TLSHTTPServer(handler, self.ca.server_context)

    @property
    def file_url(self) -> str:
        """file:// URL of the same layout on disk (air-gapped mirrors)."""
        return self.root.resolve().as_uri()

    def env(self) -> dict[str, str]:
        """Environment for a kctx subprocess using this mirror over HTTPS."""
        return {"KCTX_KUBECTL_MIRROR": self.url, "SSL_CERT_FILE": self.ca.pem_path}

    # -- content ----------------------------------------------------------------------------------

    def add_version(
        self,
        version: str,
        binary: str | os.PathLike[str],
        *,
        tamper: bool = False,
        sha256: bool = True,
        sha512: bool = True,
        truncate: bool = False,
        missing: bool = False,
        fail_times: int = 0,
        slow: float = 0.0,
        platforms: Iterable[tuple[str, str]] = PLATFORMS,
        stable: bool | None = None,
    ) -> None:
        """Publish `binary` as kubectl `version` ("1.37.1" or "v1.37.1") for `platforms`.

        Any binary can be published under any number (the real 1.37 kubectl as 1.30.4).
        `tamper`: the digest files do not match the binary. `sha256`/`sha512` False: that
        digest file is absent (404). `truncate`: the binary's body stops halfway, shorter
        than its Content-Length (on disk: a short file). `missing`: the binary and its digests
        answer 404 (and are not on disk). `fail_times`: the binary answers 503 that many times
        first. `slow`: seconds before the binary's answer starts. `stable`: whether it counts
        for stable-X.Y.txt/stable.txt (default: unless missing).
        """
        v = version.lstrip("v")
        binary = Path(binary)
        real256, real512 = file_digests(binary)
        if tamper:
            real256 = hashlib.sha256(b"tampered" + v.encode()).hexdigest()
            real512 = hashlib.sha512(b"tampered" + v.encode()).hexdigest()
        size = binary.stat().st_size
        for os_name, arch in platforms:
            rel = f"release/v{v}/bin/{os_name}/{arch}/kubectl"
            disk = self.root / rel
            for suffix in ("", ".sha256", ".sha512"):
                (disk.parent / f"kubectl{suffix}").unlink(missing_ok=True)
            with self._lock:
                for suffix in ("", ".sha256", ".sha512"):
                    self._files.pop(f"/{rel}{suffix}", None)
            if missing:
                continue
            disk.parent.mkdir(parents=True, exist_ok=True)
            self._lay_binary(binary, disk, truncate)
            with self._lock:
                self._files[f"/{rel}"] = _File(source=binary, truncate=truncate,
                                               fail_times=fail_times, slow=slow, size=size)
                for suffix, on, digest in ((".sha256", sha256, real256),
                                           (".sha512", sha512, real512)):
                    if on:
                        self._files[f"/{rel}{suffix}"] = _File(data=digest.encode())
                        (disk.parent / f"kubectl{suffix}").write_text(digest)
        if stable if stable is not None else not missing:
            self._note_stable(v)

    def set_stable(self, version: str) -> None:
        """Make release/stable.txt name this version (default: the newest added)."""
        self._stable = version.lstrip("v")
        self._stable_pinned = True
        self._write_stable()

    def set_stable_minor(self, minor: str, version: str | None) -> None:
        """Make release/stable-MINOR.txt name this version (None: 404)."""
        minor = minor.lstrip("v")
        if version is None:
            self._stable_minor.pop(minor, None)
        else:
            self._stable_minor[minor] = version.lstrip("v")
        self._write_stable()

    def binary_path(self, version: str, os_name: str = "linux", arch: str = "amd64") -> str:
        """The URL path of a binary: /release/vX.Y.Z/bin/OS/ARCH/kubectl."""
        return f"/release/v{version.lstrip('v')}/bin/{os_name}/{arch}/kubectl"

    # -- recorded requests ------------------------------------------------------------------------

    @property
    def requests(self) -> list[MirrorRequest]:
        """A snapshot of every request received so far."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def downloads(self, version: str | None = None) -> list[MirrorRequest]:
        """GET requests for binaries (of one version, if given), whatever their answer."""
        prefix = f"/release/v{version.lstrip('v')}/" if version else "/release/"
        return [r for r in self.requests if r.method == "GET" and r.path.startswith(prefix)
                and r.path.endswith("/kubectl")]

    # -- internals --------------------------------------------------------------------------------

    def _lay_binary(self, binary: Path, disk: Path, truncate: bool) -> None:
        if truncate:
            with open(binary, "rb") as f:
                disk.write_bytes(f.read(CHUNK))
            return
        try:
            os.link(binary, disk)  # no 60 MB copy per version
        except OSError:
            disk.symlink_to(binary.resolve())

    def _note_stable(self, v: str) -> None:
        from packaging.version import Version

        minor = ".".join(v.split(".")[:2])
        if minor not in self._stable_minor or Version(v) > Version(self._stable_minor[minor]):
            self._stable_minor[minor] = v
        if not self._stable_pinned and (self._stable is None or Version(v) > Version(self._stable)):
            self._stable = v
        self._write_stable()

    def _write_stable(self) -> None:
        release = self.root / "release"
        release.mkdir(parents=True, exist_ok=True)
        for old in release.glob("stable*.txt"):
            old.unlink()
        with self._lock:
            for key in [k for k in self._files if k.startswith("/release/stable")]:
                del self._files[key]
            entries = {f"stable-{m}.txt": v for m, v in self._stable_minor.items()}
            if self._stable:
                entries["stable.txt"] = self._stable
            for name, v in entries.items():
                # dl.k8s.io's stable files hold "vX.Y.Z" without a newline.
                self._files[f"/release/{name}"] = _File(data=f"v{v}".encode())
                (release / name).write_text(f"v{v}")

    def _take(self, path: str) -> tuple[_File | None, bool]:
        """What to serve at `path`, and whether this request is one of its failures."""
        with self._lock:
            spec = self._files.get(path)
            if spec is not None and spec.fail_times > 0:
                spec.fail_times -= 1
                return spec, True
            return spec, False

    def _record(self, req: MirrorRequest) -> None:
        with self._lock:
            self._requests.append(req)


class _MirrorHandler(BaseHandler):
    mirror: KubectlMirror

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        spec, failing = self.mirror._take(path)
        code = 404 if spec is None else 503 if failing else 200
        self.mirror._record(MirrorRequest(self.command, path, headers, code, time.time()))
        if spec is not None and spec.slow:
            time.sleep(spec.slow)
        if spec is None:
            self.respond(404, b"404 page not found\n", "text/plain; charset=utf-8")
        elif code == 503:
            self.respond(503, b"upstream unavailable\n", "text/plain; charset=utf-8",
                         headers={"Retry-After": "0"})
        elif spec.data is not None:
            self.respond(200, spec.data, "text/plain; charset=utf-8")
        else:
            self.send_binary(spec)

    do_HEAD = do_GET

    def send_binary(self, spec: _File) -> None:
        assert spec.source is not None
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {spec.size}\r\n\r\n").encode()
        self.wfile.write(head)
        if self.command == "HEAD":
            return
        # A truncated answer promises the whole size, sends half, then hangs up.
        limit = spec.size // 2 if spec.truncate else spec.size
        sent = 0
        with open(spec.source, "rb") as f:
            while sent < limit and (chunk := f.read(min(CHUNK, limit - sent))):
                self.wfile.write(chunk)
                sent += len(chunk)
        if spec.truncate:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)  # socket.SHUT_RDWR


# -- mirrors that do not work: real sockets on 127.0.0.1 ------------------------------------------


def refused_url() -> str:
    """https URL of a 127.0.0.1 port nothing listens on: connections are refused at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"https://127.0.0.1:{port}"


class HangingSocket:
    """A 127.0.0.1 port that accepts connections and never answers (a firewall that drops)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def accepted(self) -> int:
        return len(self.held)

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                continue

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for c in self.held:
            c.close()
        self.sock.close()
