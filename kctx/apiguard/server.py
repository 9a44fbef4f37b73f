"""The API guard process of one session: loopback HTTP in front of the real `kubectl proxy`.

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

The guard exits when its session is gone (the session file removed, its shell exited, or the
session handed to another guard), taking its kubectl proxy along.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time

from kctx import audit, paths, session
from kctx.apiguard import rules
from kctx.apiguard import state as st

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_HEAD = 256 * 1024  # bytes of request line and headers
CHUNK = 256 * 1024
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
        self.reload()
        self.proxy: subprocess.Popen | None = None
        self.proxy_error = ""
        self.proxy_sock = ""
        self.proxy_started = 0.0
        self.kubectl: str | None = None
        self.proxy_ready: asyncio.Future | None = None
        self.stopping: asyncio.Event | None = None

    # -- policy -----------------------------------------------------------------------------
    def _stamp(self) -> tuple:
        out = []
        for path in (paths.config_file(), paths.hot_index_file(), paths.entry_file(self.entry)):
            try:
                s = os.stat(path)
                out.append((s.st_mtime_ns, s.st_size, s.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def reload(self) -> None:
        """Take the config and the entry's record again when they changed (tiers, rules)."""
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
        message = (f"kctx: {self.entry} is protected ({reason}): {req.method} {req.path} refused{what}; "
                   f"writes from this shell go through `k` (it asks) or `kctx unlock 10m`")
        return answer(403, message, {"name": self.entry, "kind": "kctx-guard"})

    def audit(self, outcome: str, req: rules.Request, head: Head, reason: str) -> None:
        ua = (head.values("user-agent") or [""])[0][:300]
        record = {
            "time": audit.timestamp(), "outcome": outcome, "entry": self.entry,
            "tier": self.policy.tier if self.policy else "", "server": self.server,
            "namespace": req.namespace or "*", "context": self.entry, "method": req.method,
            "path": req.path + (f"?{req.query}" if req.query else ""), "user_agent": ua,
            "session": self.s, "reason": reason, "detail": req.what, "pid": os.getpid(),
            "user": os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid()),
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

    async def _kubectl(self) -> str | None:
        """The entry's kubectl, chosen in a thread: a first choice may download it, and the
        guard keeps watching its session meanwhile."""
        if self.kubectl is None:
            import threading

            loop = asyncio.get_running_loop()
            done: asyncio.Future = loop.create_future()

            def work() -> None:
                found = self._resolve()
                loop.call_soon_threadsafe(lambda: done.done() or done.set_result(found))

            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            self.kubectl = await done
            thread.join()  # it has finished: no other thread runs when kubectl proxy is forked
        return self.kubectl or None

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
            self.proxy = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=None, env=env,
                                          preexec_fn=_die_with_parent())  # noqa: PLW1509 - one thread
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

    async def _first_proxy(self) -> None:
        if await self._kubectl():
            self.start_proxy()

    async def upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.proxy_ready is not None
        await asyncio.shield(self.proxy_ready)
        deadline = time.monotonic() + UPSTREAM_WAIT
        while True:
            if self.proxy is None or self.proxy.poll() is not None:
                if self.proxy is not None or not self.proxy_error or time.monotonic() - self.proxy_started > 5:
                    if self.proxy is not None:
                        self.proxy_error = f"kubectl proxy exited ({self.proxy.returncode}); see {_log_hint(self.s)}"
                    if time.monotonic() - self.proxy_started > 2:
                        self.stop_proxy()
                        self.start_proxy()
                if self.proxy is None:
                    raise UpstreamDown(self.proxy_error)
            try:
                return await asyncio.open_unix_connection(self.proxy_sock, limit=CHUNK)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise UpstreamDown(f"kubectl proxy did not come up; see {_log_hint(self.s)}") from None
                await asyncio.sleep(0.01)

    # -- requests ---------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_writer = None
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream_writer = await self._handle(reader, writer)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            for w in (upstream_writer, writer):
                if w is not None:
                    try:
                        w.close()
                    except OSError:
                        pass

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> asyncio.StreamWriter | None:
        try:
            data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except asyncio.LimitOverrunError:
            writer.write(answer(431, "kctx guard: request head too large"))
            await writer.drain()
            return None
        head = parse_head(data)
        if head is None:
            writer.write(answer(400, "kctx guard: malformed request"))
            await writer.drain()
            return None
        auth = head.values("authorization")
        if len(auth) != 1 or not hmac.compare_digest(auth[0].encode("latin-1"), self.bearer):
            writer.write(answer(401, "kctx guard: this endpoint answers only the kctx shell it belongs "
                                     "to (its session's token); use the KUBECONFIG kctx set"))
            await writer.drain()
            return None
        upgrade = bool(head.values("upgrade")) or any(
            "upgrade" in v.lower() for v in head.values("connection"))
        te = [t.strip().lower() for v in head.values("transfer-encoding") for t in v.split(",") if t.strip()]
        cl = {v.strip() for v in head.values("content-length")}
        if te and cl or len(cl) > 1 or (cl and not next(iter(cl)).isdigit()):
            writer.write(answer(400, "kctx guard: conflicting request body framing"))
            await writer.drain()
            return None
        if te and te != ["chunked"]:
            writer.write(answer(501, "kctx guard: transfer coding not supported"))
            await writer.drain()
            return None
        length = int(next(iter(cl))) if cl else 0
        req = rules.classify(head.method, head.target, upgrade)
        early = b""
        if head.method == "DELETE" and not req.passes and (te or length):
            # A DELETE's options (dryRun) are in its body when it has one: read it to judge.
            if te or length > MAX_HEAD:
                req = rules.classify(head.method, head.target, upgrade, body_dry=False)
            else:
                early = await asyncio.wait_for(reader.readexactly(length), HEAD_TIMEOUT)
                length = 0
                ctype = (head.values("content-type") or [""])[0]
                req = rules.classify(head.method, head.target, upgrade,
                                     body_dry=rules.body_dry_run(early, ctype))
        refusal = self.judge(req, head)
        if refusal is not None:
            writer.write(refusal)
            await writer.drain()
            return None
        try:
            up_r, up_w = await self.upstream()
        except UpstreamDown as e:
            writer.write(answer(502, f"kctx guard for {self.entry}: {e}"))
            await writer.drain()
            return None
        sock = up_w.get_extra_info("socket")
        up_w.write(self._forward_head(head, upgrade) + early)
        if upgrade:
            await _both_ways(reader, up_w, up_r, writer)
            return up_w
        body = asyncio.ensure_future(_send_body(reader, up_w, bool(te), length))
        try:
            await _pipe(up_r, writer)
        finally:
            body.cancel()
        del sock
        return up_w

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

    async def watch(self) -> None:
        assert self.stopping is not None
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), WATCH_EVERY)
            except TimeoutError:
                pass
            if not self.session_alive():
                self.stopping.set()
                return
            self.reload()

    async def run(self) -> None:
        self.stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        listener = socket.socket(fileno=self.fd)
        listener.setblocking(False)
        from kctx.apiguard import tls

        server = await asyncio.start_server(self.handle, sock=listener, limit=MAX_HEAD, ssl=tls.server_context(),
                                            ssl_handshake_timeout=HEAD_TIMEOUT)
        watcher = asyncio.ensure_future(self.watch())
        self.proxy_ready = asyncio.ensure_future(self._first_proxy())
        try:
            await self.stopping.wait()
        finally:
            server.close()
            watcher.cancel()
            self.stop_proxy()

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


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    while True:
        data = await src.read(CHUNK)
        if not data:
            return
        dst.write(data)
        await dst.drain()


async def _both_ways(c_r: asyncio.StreamReader, u_w: asyncio.StreamWriter, u_r: asyncio.StreamReader,
                     c_w: asyncio.StreamWriter) -> None:
    tasks = [asyncio.ensure_future(_pipe(c_r, u_w)), asyncio.ensure_future(_pipe(u_r, c_w))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def _send_body(src: asyncio.StreamReader, dst: asyncio.StreamWriter, chunked: bool, length: int) -> None:
    """Forward exactly one request body, then nothing more from this client."""
    try:
        if chunked:
            while True:
                line = await src.readuntil(b"\r\n")
                size_text = line.split(b";", 1)[0].strip()
                if not size_text or len(size_text) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                    dst.close()
                    return
                size = int(size_text, 16)
                dst.write(line)
                if size == 0:
                    while True:
                        trailer = await src.readuntil(b"\r\n")
                        dst.write(trailer)
                        if trailer == b"\r\n":
                            await dst.drain()
                            return
                data = await src.readexactly(size + 2)
                if data[-2:] != b"\r\n":
                    dst.close()
                    return
                dst.write(data)
                await dst.drain()
        while length > 0:
            data = await src.read(min(length, CHUNK))
            if not data:
                return
            length -= len(data)
            dst.write(data)
            await dst.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        dst.close()


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
        asyncio.run(guard.run())
    finally:
        guard.stop_proxy()
        guard.cleanup()
    return 0
