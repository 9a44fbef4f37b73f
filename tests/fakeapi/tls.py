"""HTTPS for the fake servers and the download mirror: one CA per process (trustme), one
leaf certificate for 127.0.0.1/localhost, a threaded TLS server with TCP_NODELAY, a keep-alive
handler and the start/stop/URL lifecycle (`Served`)."""
from __future__ import annotations

import atexit
import base64
import os
import shutil
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import trustme

# ---------------------------------------------------------------------------------------------
# TLS: one CA per process, one leaf certificate for 127.0.0.1/localhost used by every server.


@dataclass(frozen=True)
class ClientCert:
    """A client certificate from the shared CA, as PEM bytes and as files."""

    common_name: str
    cert_pem: bytes
    key_pem: bytes
    cert_path: str
    key_path: str


class SharedCA:
    """The process-wide test CA: `ca` (trustme), `pem` bytes and `pem_path`."""

    def __init__(self) -> None:
        self.ca = trustme.CA()  # ECDSA keys: RSA key generation is slow on this machine
        self.pem = self.ca.cert_pem.bytes()
        self.folder = tempfile.mkdtemp(prefix="kctx-test-ca-")
        atexit.register(shutil.rmtree, self.folder, True)
        self.pem_path = os.path.join(self.folder, "ca.pem")
        with open(self.pem_path, "wb") as f:
            f.write(self.pem)
        self._leaf = self.ca.issue_cert("127.0.0.1", "localhost", "::1")
        self.server_context = self._server_context(client_certs=False)
        self.mtls_context = self._server_context(client_certs=True)
        self._clients: dict[str, ClientCert] = {}
        self._lock = threading.Lock()

    def _server_context(self, client_certs: bool) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf.configure_cert(ctx)
        # No h2 offered: Go then speaks HTTP/1.1, which http.server understands.
        ctx.set_alpn_protocols(["http/1.1"])
        if client_certs:
            # Like kube-apiserver: a client certificate is optional, and checked when sent.
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cadata=self.pem.decode())
        return ctx

    @property
    def pem_b64(self) -> str:
        """The CA PEM as kubeconfig `certificate-authority-data`."""
        return base64.b64encode(self.pem).decode()

    def client_context(self) -> ssl.SSLContext:
        """An SSL context trusting only this CA (for Python clients in tests)."""
        return ssl.create_default_context(cadata=self.pem.decode())

    def client_cert(self, common_name: str) -> ClientCert:
        """A client certificate for `common_name` (the user name servers see), made once."""
        with self._lock:
            if common_name not in self._clients:
                leaf = self.ca.issue_cert(f"{len(self._clients)}.client.invalid",
                                          common_name=common_name)
                base = os.path.join(self.folder, f"client-{len(self._clients)}")
                leaf.cert_chain_pems[0].write_to_path(base + ".crt")
                leaf.private_key_pem.write_to_path(base + ".key")
                self._clients[common_name] = ClientCert(
                    common_name, leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes(),
                    base + ".crt", base + ".key")
            return self._clients[common_name]


_ca_lock = threading.Lock()
_ca: SharedCA | None = None


def session_ca() -> SharedCA:
    """The CA shared by all fake servers and mirrors of this process (created on first use)."""
    global _ca
    with _ca_lock:
        if _ca is None:
            _ca = SharedCA()
        return _ca


# ---------------------------------------------------------------------------------------------
# A threaded HTTPS server with TCP_NODELAY, shared by the fake API server and the mirror.


class TLSHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that does the TLS handshake in the worker thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.ssl_context = context
        self._conns: set[ssl.SSLSocket] = set()
        self._conns_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        # Without it, Go's small writes meet delayed ACKs: about 40 ms lost per connection.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Handshake here (a worker thread), not in accept(), so one slow client stalls nobody.
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        with self._conns_lock:
            self._conns.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response are normal here (truncate tests, killed kubectl).
        pass

    def close_connections(self) -> None:
        """Hang up every open keep-alive connection (used by stop())."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class BaseHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that writes each response in one send."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections end eventually
    server_version = "fake-kube"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def respond(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        """Send status, headers and body in one write."""
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Cache-Control: no-cache, private")
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}")
        if close:
            lines.append("Connection: close")
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))


class Served:
    """A TLS server on a random port of 127.0.0.1, served from a daemon thread.

    Subclasses say which handler and TLS context to serve with (`_make_server`); the start,
    stop and URL of the fake API servers and of the download mirror are this one piece.
    """

    thread_name = "fake-server"
    _httpd: TLSHTTPServer | None = None

    def _make_server(self) -> TLSHTTPServer:
        raise NotImplementedError

    def _stopping_now(self) -> None:
        """Called just before the server stops (wake handlers that wait)."""

    def start(self) -> Self:
        """Listen on a random port of 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is None:
            self._httpd = self._make_server()
            threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                             name=self.thread_name, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and hang up open connections."""
        if self._httpd is None:
            return
        self._stopping_now()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"
