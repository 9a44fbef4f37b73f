"""The API guard process of one session: loopback HTTPS in front of the real `kubectl proxy`.

    client ──http://127.0.0.1:PORT──▶ guard ──unix socket──▶ kubectl proxy ──▶ API server

Upstream is the entry's own kubectl (`kubectl proxy --unix-socket`, KUBECONFIG=<entry file>,
kuberc off, its filters disabled so that only this guard decides): certificates, tokens, token
files, exec plugins, OIDC refreshes written back to the entry file, proxy-url, tls-server-name,
impersonation, streaming and upgrades are kubectl's own, and no credential is copied.

Each client connection carries one request (`Connection: close` both ways). The guard reads
only the request head: no `Authorization: Bearer <this session's secret>`, 401 and nothing
forwarded; then kctx.apiguard.rules judges it. A refusal is a 403 with a Kubernetes Status
body, so kubectl, helm and client libraries print kctx's message. A request that passes goes
upstream without the secret, its body framed by its own Content-Length or chunks (nothing of a
second request can follow it), and the answer is piped back byte for byte as it arrives, so
`logs -f`, `get -w` and upgrades stream unbuffered.

One thread per client connection, blocking sockets: relaying a big list costs a recv_into
and one TLS write per megabyte, where asyncio's TLS transport copied each chunk through
memory BIOs and buffers (bench/apiguard.py: a third less CPU per byte).

The guard exits when its session is gone (the session file removed, its shell exited, or the
session handed to another guard), taking its kubectl proxy along.
"""

from __future__ import annotations

import hmac
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

from kctx import audit, paths, session
from kctx.apiguard import rules
from kctx.apiguard import state as st
from kctx.errors import WAYS_ON

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_HEAD = 256 * 1024  # bytes of request line and headers
CHUNK = 1024 * 1024  # bytes one read of an answer may take
UPSTREAM_WAIT = 30.0  # seconds a request waits for kubectl proxy to come up
WATCH_EVERY = 1.0  # seconds between checks that the session is still there
HEAD_TIMEOUT = 60.0
_PHRASES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 431: "Request Header Fields Too Large",
            501: "Not Implemented", 502: "Bad Gateway"}
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 431: "BadRequest", 501: "BadRequest",
            502: "ServiceUnavailable"}
_DROP = frozenset(("authorization", "connection", "keep-alive", "proxy-connection", "proxy-authorization"))


def answer(code: int, message: str, details: dict[str, Any] | None = None) -> bytes:
    """A complete HTTP response whose body is a Kubernetes Status."""
    doc: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": message, "reason": _REASONS.get(code, "BadRequest"), "code": code}
    if details:
        doc["details"] = details
    body = json.dumps(doc).encode()
    return (f"HTTP/1.1 {code} {_PHRASES.get(code, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-cache, private\r\nConnection: close\r\n\r\n"
            ).encode() + body


class Head:
    """A parsed request head."""

    __slots__ = ("headers", "method", "target", "version")

    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]]) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name]


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_head(data: bytes) -> Head | None:
    """Request line and headers (None when malformed: no folding, no space before a colon)."""
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
        return None
    lines = text.split("\r\n")
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return None
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[0] or not set(parts[0]) <= _TOKEN_CHARS:
        return None
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or not set(name) <= _TOKEN_CHARS:
            return None  # obs-fold, "Name : v", bare lines: smuggling material
        headers.append((name, value.strip(" \t")))
    return Head(parts[0], parts[1], parts[2], headers)


class UpstreamDown(Exception):
    pass


class _Stop(Exception):
    """SIGTERM: leave the accept loop now."""


class Guard:
    def __init__(self, fd: int, s: str) -> None:
        self.fd = fd
        self.s = s
        self.owner = session.pid_of(s) or 0
        self.started = time.monotonic()
        with open(st.token_path(s), encoding="utf-8") as f:
            self.bearer = ("Bearer " + f.read().strip()).encode()
        text = session.read_text(s) or ""
        parsed = st.parse(text)
        self.entry = parsed["current-context"] if parsed else ""
        if not self.entry or not session.valid_name(self.entry):
            raise SystemExit(f"kctx guard: {s} names no entry")
        self.policy: rules.Policy | None = None
        self.server = ""
        self.stamp: tuple = ()
        # what the policy depends on (config.tier_files and the entry file); the team policy
        # files the configuration names are added at the first load
        self.watched = [paths.config_file(), paths.hot_index_file(), paths.entry_file(self.entry)]
        self.reload()
        self.proxy: subprocess.Popen | None = None
        self.proxy_error = ""
        self.proxy_sock = ""
        self.proxy_started = 0.0
        self.kubectl: str | None = None
        # kubectl proxy is started by one thread only (see _keeper); the others wait on this.
        self.proxy_cond = threading.Condition()
        self.generation = 0  # how often _keeper has (re)started kubectl proxy
        self.want_restart = False
        self.closing = False

    # -- policy -----------------------------------------------------------------------------
    def _stamp(self) -> tuple:
        out: list[tuple[int, int, int] | None] = []
        for path in self.watched:
            try:
                s = os.stat(path)
                out.append((s.st_mtime_ns, s.st_size, s.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def reload(self) -> None:
        """Take the config, the team policy and the entry's record again when they changed (tiers,
        rules)."""
        stamp = self._stamp()
        if stamp == self.stamp:
            return
        from kctx import config
        from kctx.apiguard import policy

        try:
            cfg = config.load()
            rec = session.entry_record(self.entry)
        except Exception as e:  # noqa: BLE001 - a broken config keeps the last policy (fail closed)
            sys.stderr.write(f"kctx guard: keeping the previous policy: {e}\n")
            return
        watched = [*config.tier_files(cfg), paths.entry_file(self.entry)]
        if watched != self.watched:  # the configuration names other policy files now
            self.watched = watched
            stamp = self._stamp()
        self.stamp = stamp
        if rec is None:
            return  # entry removed: keep protecting as before
        self.server = str(rec.get("server") or "")
        self.policy = policy.for_entry(cfg, self.entry, rec)
        if self.policy is None and not cfg["guard"].get("api", True):
            # guard.api turned off: keep refusing until the shell switches (kctx use) rather than
            # silently open a shell that was guarded when it started.
            return

    def unlocked(self) -> bool:
        from kctx.identity import normalise_server

        u = session.unlock_state(self.s)
        return bool(u and u["entry"] == self.entry
                    and normalise_server(u["server"]) == normalise_server(self.server))

    def judge(self, req: rules.Request, head: Head) -> bytes | None:
        """None to forward the request, else the answer refusing it."""
        if req.passes:
            return None
        reason = self.policy.protects(req.namespace) if self.policy else None
        if req.kind == rules.ODD and reason is None and self.policy is not None:
            reason = "kctx cannot tell what this path names"
        if reason is None:
            return None
        if self.unlocked():
            self.audit("api-unlocked", req, head, reason)
            return None
        self.audit("api-refused", req, head, reason)
        what = "" if req.kind == rules.WRITE else f" ({req.what})"
        message = f"kctx: {self.entry} is protected ({reason}): {req.method} {req.path} refused{what}; {WAYS_ON}"
        return answer(403, message, {"name": self.entry, "kind": "kctx-guard"})

    def audit(self, outcome: str, req: rules.Request, head: Head, reason: str) -> None:
        ua = (head.values("user-agent") or [""])[0][:300]
        record = {
            "time": audit.timestamp(), "outcome": outcome, "entry": self.entry,
            "tier": self.policy.tier if self.policy else "", "server": self.server,
            "namespace": req.namespace or "*", "context": self.entry, "method": req.method,
            "path": req.path + (f"?{req.query}" if req.query else ""), "user_agent": ua,
            "session": self.s, "reason": reason, "detail": req.what, "pid": os.getpid(),
            "user": audit.user(),
        }
        try:
            audit.append(record)
        except OSError as e:
            sys.stderr.write(f"kctx guard: cannot write the audit log: {e}\n")

    # -- kubectl proxy ----------------------------------------------------------------------
    def _resolve(self) -> str | None:
        try:
            from kctx.kubectl.choice import resolve

            return resolve(self.entry)
        except Exception as e:  # noqa: BLE001 - every request will say it
            self.proxy_error = f"no kubectl to reach {self.entry}: {e}"
            return None

    def start_proxy(self) -> None:
        self.proxy_started = time.monotonic()
        self.proxy_error = ""
        kubectl = self.kubectl
        if not kubectl:
            self.proxy_error = self.proxy_error or f"no kubectl to reach {self.entry}"
            return
        base = os.path.basename(self.s)[:-5]
        self.proxy_sock = f"{base}-{os.urandom(4).hex()}.sock"  # relative: the guard folder is our cwd
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERC")}
        env.update(KUBECONFIG=paths.entry_file(self.entry), KUBERC="off", KCTX_IN_K="1", KCTX_KUBECTL=kubectl)
        argv = [kubectl, "proxy", f"--unix-socket={self.proxy_sock}", "--disable-filter",
                f"--context={self.entry}"]
        try:
            # preexec_fn with other threads about: it only calls prctl (and glibc keeps malloc
            # usable in a child forked from threads).
            self.proxy = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=None, env=env,
                                          preexec_fn=_die_with_parent())  # noqa: PLW1509
        except OSError as e:
            self.proxy_error = f"cannot run {kubectl}: {e.strerror}"

    def stop_proxy(self) -> None:
        proc, self.proxy = self.proxy, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.proxy_sock:
            try:
                os.unlink(self.proxy_sock)
            except OSError:
                pass

    def _keeper(self) -> None:
        """Choose the entry's kubectl (a first choice may download it), start its proxy, and
        start it again when a request finds it dead: always from this one long-lived thread,
        since Linux sends PR_SET_PDEATHSIG when the *thread* that forked the child ends."""
        kubectl = self._resolve()
        with self.proxy_cond:
            self.kubectl = kubectl
            while not self.closing:
                self.stop_proxy()
                if self.kubectl:
                    self.start_proxy()
                self.generation += 1
                self.want_restart = False
                self.proxy_cond.notify_all()
                while not self.want_restart and not self.closing:
                    self.proxy_cond.wait()

    def upstream(self) -> socket.socket:
        """A connection to kubectl proxy, having it restarted when it is gone."""
        deadline = time.monotonic() + UPSTREAM_WAIT
        while True:
            with self.proxy_cond:
                self.proxy_cond.wait_for(lambda: self.generation > 0)
                if self.proxy is None or self.proxy.poll() is not None:
                    if self.proxy is not None or not self.proxy_error or time.monotonic() - self.proxy_started > 5:
                        if self.proxy is not None:
                            self.proxy_error = (f"kubectl proxy exited ({self.proxy.returncode}); "
                                                f"see {_log_hint(self.s)}")
                        if time.monotonic() - self.proxy_started > 2:
                            seen = self.generation
                            self.want_restart = True
                            self.proxy_cond.notify_all()
                            self.proxy_cond.wait_for(lambda: self.generation != seen or self.closing)  # noqa: B023 - waited on here
                    if self.proxy is None:
                        raise UpstreamDown(self.proxy_error)
                where = self.proxy_sock
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                up.connect(where)
                return up
            except (FileNotFoundError, ConnectionRefusedError):
                up.close()
                if time.monotonic() > deadline:
                    raise UpstreamDown(f"kubectl proxy did not come up; see {_log_hint(self.s)}") from None
                time.sleep(0.01)

    # -- requests ---------------------------------------------------------------------------
    def handle(self, raw: socket.socket, ctx: ssl.SSLContext) -> None:
        """One client connection, in a thread of its own (blocking sockets: the relay of a big
        answer then costs one recv_into and one TLS write per chunk, nothing more)."""
        conn: socket.socket = raw
        up = None
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.settimeout(HEAD_TIMEOUT)
            conn = ctx.wrap_socket(raw, server_side=True)
            up = self._handle(conn)
        except (OSError, ValueError):  # ssl.SSLError, timeouts and resets are OSErrors
            pass
        finally:
            for sock in (up, conn):
                if sock is not None:
                    try:
                        sock.close()
                    except OSError:
                        pass

    def _handle(self, conn: ssl.SSLSocket) -> socket.socket | None:
        got = _read_head(conn, time.monotonic() + HEAD_TIMEOUT)
        if got is None:
            conn.sendall(answer(431, "kctx guard: request head too large"))
            return None
        data, rest = got
        head = parse_head(data)
        if head is None:
            conn.sendall(answer(400, "kctx guard: malformed request"))
            return None
        auth = head.values("authorization")
        if len(auth) != 1 or not hmac.compare_digest(auth[0].encode("latin-1"), self.bearer):
            conn.sendall(answer(401, "kctx guard: this endpoint answers only the kctx shell it belongs "
                                     "to (its session's token); use the KUBECONFIG kctx set"))
            return None
        upgrade = bool(head.values("upgrade")) or any(
            "upgrade" in v.lower() for v in head.values("connection"))
        te = [t.strip().lower() for v in head.values("transfer-encoding") for t in v.split(",") if t.strip()]
        cl = {v.strip() for v in head.values("content-length")}
        if te and cl or len(cl) > 1 or (cl and not next(iter(cl)).isdigit()):
            conn.sendall(answer(400, "kctx guard: conflicting request body framing"))
            return None
        if te and te != ["chunked"]:
            conn.sendall(answer(501, "kctx guard: transfer coding not supported"))
            return None
        length = int(next(iter(cl))) if cl else 0
        body = _Body(conn, rest)
        req = rules.classify(head.method, head.target, upgrade)
        early = b""
        if head.method == "DELETE" and not req.passes and (te or length):
            # A DELETE's options (dryRun) are in its body when it has one: read it to judge.
            if te or length > MAX_HEAD:
                req = rules.classify(head.method, head.target, upgrade, body_dry=False)
            else:
                early = body.exactly(length)
                length = 0
                ctype = (head.values("content-type") or [""])[0]
                req = rules.classify(head.method, head.target, upgrade,
                                     body_dry=rules.body_dry_run(early, ctype))
        refusal = self.judge(req, head)
        if refusal is not None:
            conn.sendall(refusal)
            return None
        try:
            up = self.upstream()
        except UpstreamDown as e:
            conn.sendall(answer(502, f"kctx guard for {self.entry}: {e}"))
            return None
        conn.settimeout(None)  # a watch or `logs -f` may be quiet for hours
        continuing = any(v.lower() == "100-continue" for v in head.values("expect"))
        up.sendall(self._forward_head(head, upgrade) + early)
        if upgrade:
            _both_ways(conn, up, body.take())
            return up
        if continuing and (te or length):
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # the guard asks for the body itself
        try:
            body.send(up, bool(te), length)
        except (OSError, ValueError):
            pass  # kubectl proxy may answer (and close) before taking the whole body
        _pipe(up, conn)
        return up

    def _forward_head(self, head: Head, upgrade: bool) -> bytes:
        lines = [f"{head.method} {head.target} {head.version}"]
        lines += [f"{k}: {v}" for k, v in head.headers if k.lower() not in _DROP]
        lines.append("Connection: Upgrade" if upgrade else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    # -- life -------------------------------------------------------------------------------
    def session_alive(self) -> bool:
        if not os.path.exists(self.s) or not session._alive(self.owner):
            return False
        state = st.read_state(self.s)
        if state is None:
            return time.monotonic() - self.started < 10  # the launcher writes it just after starting us
        return state["pid"] == os.getpid()

    def run(self) -> None:
        """Accept clients (a thread each) until the session is gone or SIGTERM comes."""
        def stop(*_: object) -> None:
            raise _Stop

        signal.signal(signal.SIGTERM, stop)
        from kctx.apiguard import tls

        ctx = tls.server_context()
        listener = socket.socket(fileno=self.fd)
        listener.settimeout(WATCH_EVERY)
        threading.Thread(target=self._keeper, daemon=True).start()
        checked = time.monotonic()
        try:
            while True:
                try:
                    raw, _ = listener.accept()
                except TimeoutError:
                    pass
                except OSError:  # out of file descriptors, say: let connections finish
                    time.sleep(0.05)
                else:
                    raw.settimeout(None)
                    threading.Thread(target=self.handle, args=(raw, ctx), daemon=True).start()
                if time.monotonic() - checked >= WATCH_EVERY:
                    checked = time.monotonic()
                    if not self.session_alive():
                        return
                    self.reload()
        except _Stop:
            return
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            listener.close()
            with self.proxy_cond:
                self.closing = True
                self.stop_proxy()
                self.proxy_cond.notify_all()

    def cleanup(self) -> None:
        """Remove the session's guard files when the session is over (not when handed on)."""
        state = st.read_state(self.s)
        gone = not os.path.exists(self.s) or not session._alive(self.owner)
        if gone and (state is None or state["pid"] == os.getpid()):
            for path in (st.state_path(self.s), st.token_path(self.s), st.direct_path(self.s)):
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _log_hint(s: str) -> str:
    from kctx.apiguard.launch import log_path

    return log_path(s)


def _die_with_parent() -> Any:
    """preexec_fn: kubectl proxy gets SIGTERM when the guard dies, however it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    parent = os.getpid()

    def setup() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)  # the guard died before prctl took effect

    return setup


def _read_head(conn: socket.socket, deadline: float) -> tuple[bytes, bytes] | None:
    """The request head (through its blank line) and what came after it; None when too large."""
    buf = bytearray()
    while True:
        end = buf.find(b"\r\n\r\n", max(0, len(buf) - CHUNK_SEEN))
        if end >= 0:
            return bytes(buf[:end + 4]), bytes(buf[end + 4:])
        if len(buf) > MAX_HEAD:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        conn.settimeout(left)
        data = conn.recv(65536)
        if not data:
            raise ConnectionError("closed before its request")
        buf += data


CHUNK_SEEN = 65536 + 3  # a new recv can complete "\r\n\r\n" at most 3 bytes before it


class _Body:
    """The client's request body: what came with the head first, then the connection."""

    def __init__(self, conn: socket.socket, rest: bytes) -> None:
        self.conn = conn
        self.buf = bytearray(rest)

    def take(self) -> bytes:
        out, self.buf = bytes(self.buf), bytearray()
        return out

    def _fill(self) -> None:
        data = self.conn.recv(CHUNK)
        if not data:
            raise ConnectionError("the client closed in its request body")
        self.buf += data

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                return self.exactly(end + 2)
            if len(self.buf) > MAX_HEAD:
                raise ValueError("chunk line too long")
            self._fill()

    def send(self, dst: socket.socket, chunked: bool, length: int) -> None:
        """Forward exactly one request body, then nothing more from this client."""
        if not chunked:
            while length > 0:
                if not self.buf:
                    self._fill()
                data = self.exactly(min(length, len(self.buf)))
                length -= len(data)
                dst.sendall(data)
            return
        while True:
            line = self.line()
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                raise ValueError("bad chunk size")
            size = int(size_text, 16)
            dst.sendall(line)
            if size == 0:
                while line != b"\r\n":  # the trailers, through the blank line
                    line = self.line()
                    dst.sendall(line)
                return
            sent = 0
            while sent < size:  # a big chunk goes on in pieces, never held whole
                if not self.buf:
                    self._fill()
                piece = self.exactly(min(size - sent, len(self.buf)))
                dst.sendall(piece)
                sent += len(piece)
            if self.exactly(2) != b"\r\n":
                raise ValueError("bad chunk end")
            dst.sendall(b"\r\n")


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy the answer as it arrives: whatever one recv returns is written at once (no
    buffering: watch events and log lines go out when they come), big reads when it streams."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    recv_into, sendall = src.recv_into, dst.sendall
    while True:
        n = recv_into(buf)
        if not n:
            return
        sendall(view[:n])


def _both_ways(client: ssl.SSLSocket, up: socket.socket, early: bytes) -> None:
    """Relay an upgraded connection (exec, attach, port-forward) both ways in this one thread:
    an SSL socket must not be read and written by two threads at once."""
    client.setblocking(False)
    up.setblocking(False)
    to_up = bytearray(early)
    to_client = bytearray()
    writing = b""  # a TLS write that wanted to wait is retried with the same bytes
    client_open = up_open = True
    while True:
        if (not client_open or not up_open) and not to_up and not to_client and not writing:
            return
        if not up_open and not client_open:
            return
        readers: list[socket.socket] = []
        if client_open and up_open and len(to_up) < CHUNK:
            readers.append(client)
        if up_open and client_open and len(to_client) < CHUNK:
            readers.append(up)
        writers: list[socket.socket] = []
        if to_up:
            writers.append(up)
        if to_client or writing:
            writers.append(client)
        ready = client in readers and client.pending()
        r, w, _ = select.select(readers, writers, [], 0 if ready else None)
        if client in readers and (ready or client in r):
            try:
                data = client.recv(CHUNK)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            else:
                if data:
                    to_up += data
                else:
                    client_open = False
        if up in r:
            data = up.recv(CHUNK)
            if data:
                to_client += data
            else:
                up_open = False
        if up in w:
            del to_up[:up.send(to_up)]
        if client in w:
            if not writing:
                writing, to_client = bytes(to_client[:CHUNK]), to_client[CHUNK:]
            try:
                n = client.send(writing)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            writing = writing[n:]


def main() -> int:
    fd, s = int(sys.argv[1]), sys.argv[2]
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    os.chdir(st.guard_dir())
    try:
        guard = Guard(fd, s)
    except (OSError, SystemExit) as e:
        sys.stderr.write(f"kctx guard: cannot start for {s}: {e}\n")
        return 1
    try:
        guard.run()
    finally:
        guard.cleanup()
    return 0
