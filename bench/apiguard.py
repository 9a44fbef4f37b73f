"""Benchmark: the API guard (kctx/apiguard) against the same clients going straight to the server.

Against one local fake API server (tests/fakeapi/, TLS on 127.0.0.1), in the same run:
- `kubectl get pods` through the guard vs the same kubectl straight (KUBECONFIG=<entry file>),
  alternating, warm discovery cache: median added time (budget 3 ms);
- a list of 5,000 objects (over 10 MB) read through the guard vs straight: throughput ratio
  (budget >= 80 %); beside it the guard's kubectl proxy alone (plain HTTP on its unix socket),
  the hop the guard builds on, the CPU time each process spends per list (client and server,
  guard, kubectl proxy: on few CPUs their sum bounds the guarded throughput), and the same
  list as real kubectl reads it (`get --raw`, `get pods`: the whole command);
- watch events (`get -w`) and log lines (`logs -f`): delay between the server writing an event
  and the client reading it, through the guard and straight (budget 50 ms);
- `kctx use` of a protected entry (starts a guard) vs an unprotected one (no guard);
- the guard's resident memory (budget 50 MB) and its kubectl proxy's;
- 50 concurrent clients through one guard, all answered.

    python bench/apiguard.py [--runs 20] [--kubectl PATH]
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

import argparse
import http.client
import json
import shutil
import signal
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.append(HERE)
from apiguard_support import shell_vars
from benchlib import prod_and_dev_store, real_kubectl, use

BIG = "/api/v1/namespaces/big/pods"
STREAM = "/api/v1/namespaces/stream/pods"
LOG = "/api/v1/namespaces/stream/pods/web-1/log"


def make_server():
    from fakeapi import FakeAPIServer
    from fakeapi.server import _APIHandler

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "big",
                                                           "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                                    "args": ["--padding=" + "x" * 1900]}]}}
    items = []
    for i in range(5000):
        p = json.loads(json.dumps(pod))
        p["metadata"]["name"] = f"web-{i}"
        items.append(p)
    big = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                      "items": items}).encode()

    class Handler(_APIHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == BIG:
                self.respond(200, big)
            elif path in (STREAM, LOG) and ("watch=true" in self.path or "follow=true" in self.path):
                self.stream_events()
            else:
                super().do_GET()

        def stream_events(self) -> None:
            api = self.api
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
            self.wfile.flush()
            for _ in range(api.events):
                time.sleep(api.gap)
                line = json.dumps({"type": "ADDED", "sent": time.time()}).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    class Server(FakeAPIServer):
        events = 20
        gap = 0.05

        def _make_server(self):
            server = super()._make_server()
            server.RequestHandlerClass = type("H", (Handler,), {"api": self})
            return server

    return Server("v1.37.1", False, "prod"), len(big)


class Endpoint:
    """Raw HTTPS requests to the server straight, or to the guard with the session's secret."""

    def __init__(self, url: str, cafile: str | None, cadata: str | None, token: str | None) -> None:
        self.host, port = url.split("://", 1)[1].rsplit(":", 1)
        self.port = int(port)
        self.ctx = ssl.create_default_context(cafile=cafile, cadata=cadata)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
        conn.request("GET", path, headers=self.headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, body

    def delays(self, path: str) -> list[float]:
        """ms between the server writing each streamed event and this client reading it."""
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
        conn.request("GET", path, headers=self.headers)
        resp = conn.getresponse()
        out = []
        while True:
            line = resp.readline()
            if not line:
                break
            if line.strip():
                out.append((time.time() - json.loads(line)["sent"]) * 1000)
        conn.close()
        return out


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, check=False)
    ms = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.decode()[-400:]}")
    return ms


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """The child processes of every thread of `pid` (the guard forks kubectl proxy from a thread)."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def cpu_ms(pid: int) -> float:
    """User and system CPU time of `pid` so far (all its threads), in ms."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def self_cpu_ms() -> float:
    """User and system CPU time of this process so far (client and fake server), in ms."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1000


def unix_get(path: str, target: str) -> tuple[int, int]:
    """GET over plain HTTP on a unix socket (kubectl proxy's): status and body bytes read."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    head = b""
    size = 0
    buf = bytearray(1 << 20)
    while True:
        n = sock.recv_into(buf)
        if not n:
            break
        if b"\r\n\r\n" not in head:
            head += bytes(buf[:n])
            if b"\r\n\r\n" in head:
                head, _, rest = head.partition(b"\r\n\r\n")
                head += b"\r\n\r\n"
                size = len(rest)
        else:
            size += n
    sock.close()
    return int(head.split()[1]), size


def get_size(ep: Endpoint, path: str) -> tuple[int, int]:
    status, body = ep.get(path)
    return status, len(body)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--kubectl")
    args = ap.parse_args()
    kubectl = real_kubectl(args.kubectl)
    kctx = os.path.join(os.path.dirname(sys.executable), "kctx")
    if not os.path.exists(kctx):
        kctx = shutil.which("kctx") or sys.exit("no kctx command")
    from fakeapi import FakeAPIServer, session_ca

    server, big_size = make_server()
    # The unprotected entry on a server of its own: at the protected one's address it would be
    # guarded too (kctx.apiguard.policy).
    other = FakeAPIServer("v1.37.1", False, "dev")
    shell = subprocess.Popen(["sleep", "3600"])
    with tempfile.TemporaryDirectory() as tmp, server as api, other as dev_api:
        env = prod_and_dev_store(tmp, kctx, kubectl, api, dev_api)

        sh = shell_vars(use(kctx, env, "prod", shell.pid))
        session = sh["__kctx_session"]
        guarded = dict(env, KUBECONFIG=session)
        direct = dict(env, KUBECONFIG=os.path.join(tmp, "kctx", "data", "entries", "prod.yaml"))
        for e in (guarded, direct):
            for _ in range(3):
                timed([kubectl, "get", "pods"], e)
        through, straight = [], []
        for i in range(args.runs):
            pair = [(guarded, through), (direct, straight)]
            for e, out in pair if i % 2 == 0 else pair[::-1]:
                out.append(timed([kubectl, "get", "pods"], e))
        added = statistics.median(through) - statistics.median(straight)

        with open(session) as f:
            doc = json.load(f)
        guard_url = doc["clusters"][0]["cluster"]["server"]
        with open(session + ".token") as f:
            token = f.read()
        g = Endpoint(guard_url, doc["clusters"][0]["cluster"]["certificate-authority"], None, token)
        d = Endpoint(api.url, None, session_ca().pem.decode(), None)
        for ep in (g, d):
            assert ep.get(BIG)[0] == 200
        state = Path(session + ".guard").read_text().split()
        gpid = int(state[0])
        ppid = children(gpid)[0]
        with open(f"/proc/{ppid}/cmdline", "rb") as f:
            sock_arg = next(a for a in f.read().split(b"\0") if a.startswith(b"--unix-socket="))
        proxy_sock = os.path.join(os.readlink(f"/proc/{ppid}/cwd"), sock_arg.split(b"=", 1)[1].decode())
        # Through the guard, straight, and through its kubectl proxy alone (plain HTTP on its
        # unix socket: the hop the guard cannot do without), alternating.
        # CPU per list: this process (client and server) from getrusage, the guard and its
        # kubectl proxy from /proc (clock ticks, so summed over the runs and divided).
        tg, td, tp = [], [], []
        cpu: dict[str, list[float]] = {"guard": [], "proxy": [], "bench-through": [], "bench-straight": []}
        for i in range(max(9, args.runs // 2)):
            order = [(g, tg), (d, td), (None, tp)]
            for ep, out in order[i % 3:] + order[:i % 3]:
                before = (cpu_ms(gpid), cpu_ms(ppid), self_cpu_ms())
                t = time.perf_counter()
                status, size = unix_get(proxy_sock, BIG) if ep is None else get_size(ep, BIG)
                out.append(time.perf_counter() - t)
                assert status == 200 and size == big_size
                if ep is g:
                    cpu["guard"].append(cpu_ms(gpid) - before[0])
                    cpu["proxy"].append(cpu_ms(ppid) - before[1])
                    cpu["bench-through"].append(self_cpu_ms() - before[2])
                elif ep is d:
                    cpu["bench-straight"].append(self_cpu_ms() - before[2])
        per_list = {k: sum(v) / len(v) for k, v in cpu.items()}
        ratio = statistics.median(td) / statistics.median(tg)
        proxy_ratio = statistics.median(td) / statistics.median(tp)

        # The same list as real kubectl reads it, through and straight, alternating: the whole
        # command, what a user waits for.
        real: dict[tuple[str, str], list[float]] = {}
        commands = {"raw": ["get", "--raw", BIG], "table": ["get", "pods", "-n", "big"]}
        for i in range(max(6, args.runs // 4)):
            for what, argv in commands.items():
                pair = [("through", guarded), ("straight", direct)]
                for way, e in pair if i % 2 == 0 else pair[::-1]:
                    real.setdefault((what, way), []).append(timed([kubectl, *argv], e))
        med = {key: statistics.median(v) for key, v in real.items()}

        lat = {}
        for name, path in (("get -w", STREAM + "?watch=true"), ("logs -f", LOG + "?follow=true")):
            lat[name] = (statistics.median(g.delays(path)), statistics.median(d.delays(path)))

        guard_rss = rss_kb(gpid)
        proxy_rss = sum(rss_kb(c) for c in children(gpid))

        results: list[int] = []
        lock = threading.Lock()

        def one() -> None:
            status, body = g.get("/api/v1/namespaces/payments/pods")
            with lock:
                results.append(status if json.loads(body).get("kind") == "PodList" else -1)

        threads = [threading.Thread(target=one) for _ in range(50)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        concurrent_ms = (time.perf_counter() - t0) * 1000

        uses: dict[str, list[float]] = {"prod": [], "dev": []}
        for i in range(args.runs):
            for name in ("prod", "dev") if i % 2 == 0 else ("dev", "prod"):
                t = time.perf_counter()
                code = use(kctx, env, name, shell.pid)
                uses[name].append((time.perf_counter() - t) * 1000)
                s = shell_vars(code)["__kctx_session"]
                st = Path(s + ".guard").read_text().split() if os.path.exists(s + ".guard") else None
                for suffix in ("", ".token", ".guard", ".direct"):
                    try:
                        os.unlink(s + suffix)
                    except OSError:
                        pass
                if st:
                    try:
                        os.kill(int(st[0]), signal.SIGTERM)
                    except OSError:
                        pass
        shell.kill()

    print(f"kubectl: {kubectl}; {args.runs} alternating runs; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"kubectl get pods      through the guard {statistics.median(through):7.1f} ms, straight "
          f"{statistics.median(straight):7.1f} ms: added {added:+.1f} ms (budget 3 ms) "
          f"{'OK' if added <= 3 else 'OVER'}")
    print(f"5,000-object list ({big_size / 1e6:.1f} MB) through {statistics.median(tg) * 1000:7.1f} ms, straight "
          f"{statistics.median(td) * 1000:7.1f} ms: {ratio:.0%} of direct throughput (budget >= 80%) "
          f"{'OK' if ratio >= 0.8 else 'UNDER'}")
    print(f"  its kubectl proxy alone (plain HTTP on the unix socket) {statistics.median(tp) * 1000:7.1f} ms: "
          f"{proxy_ratio:.0%} of direct")
    print(f"  CPU per list (means): straight, client and server {per_list['bench-straight']:.1f} ms; through, "
          f"client and server {per_list['bench-through']:.1f} ms + guard {per_list['guard']:.1f} ms + "
          f"kubectl proxy {per_list['proxy']:.1f} ms")
    print(f"  real kubectl: get --raw (10.6 MB to stdout) through {med['raw', 'through']:7.1f} ms, straight "
          f"{med['raw', 'straight']:7.1f} ms: {med['raw', 'straight'] / med['raw', 'through']:.0%}")
    print(f"  real kubectl: get pods -n big (5,000 rows) through {med['table', 'through']:7.1f} ms, straight "
          f"{med['table', 'straight']:7.1f} ms: {med['table', 'straight'] / med['table', 'through']:.0%}")
    for name, (a, b) in lat.items():
        print(f"{name:21} event delay through {a:6.1f} ms, straight {b:6.1f} ms (budget 50 ms) "
              f"{'OK' if a <= 50 else 'OVER'}")
    print(f"kctx use              protected (starts a guard) {statistics.median(uses['prod']):6.1f} ms, "
          f"unprotected {statistics.median(uses['dev']):6.1f} ms")
    print(f"guard memory          {guard_rss / 1024:.1f} MB resident (budget 50 MB) "
          f"{'OK' if guard_rss <= 50 * 1024 else 'OVER'}; its kubectl proxy {proxy_rss / 1024:.1f} MB")
    ok = results.count(200)
    print(f"50 concurrent clients {ok}/50 answered in {concurrent_ms:.0f} ms {'OK' if ok == 50 else 'FAILED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
