"""Which cluster a server is: its URL in one spelling, its addresses, its CA's fingerprint.

The guard compares clusters by identity, not by how a kubeconfig spells their address:
- `normalise_server`: one spelling of a server URL (scheme and host case, every spelling of an
  IP address, default and zero-padded ports, trailing slashes, user info);
- `resolve`: the addresses a host name has, looked up locally with a tight budget and cached
  (`paths.addresses_cache_file`), so a warm cache answers without a lookup;
- `ca_fingerprints`: SHA-256 of the DER of each CA certificate a cluster trusts.

`k` imports this module on the decision path of changes: stdlib C modules only (no ssl, no
ipaddress, no socket, no threading), each of which would cost every `k` tens of milliseconds.
"""

import os

TYPE_CHECKING = False  # no typing at run time: it costs every `k`
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

_DEFAULT_PORTS = {"https": "443", "http": "80"}
_IPV4_CHARS = frozenset("0123456789abcdefxABCDEFX.")
_MAPPED = b"\0" * 10 + b"\xff\xff"  # ::ffff:a.b.c.d, an IPv4 address written as IPv6

RESOLVE_BUDGET = 0.3  # seconds `k` waits for all the lookups of one decision together
MAX_LOOKUPS = 32  # lookups at once
FOUND_TTL = 600  # seconds an answer is trusted: DNS answers change (load balancers, moves)
MISSING_TTL = 60  # "no such host" is remembered for less: a name may be created any moment
CACHE_VERSION = 1
LOOPBACK = "loopback"  # every address of this machine: 127.0.0.0/8, ::1, 0.0.0.0, ::


def canonical_ip(host: str) -> str | None:
    """The one spelling of an IP address ('127.0.0.1', '[2001:db8::1]'), None for a host name.

    Accepts what getaddrinfo accepts: IPv4 in decimal, hex, octal and short forms (2130706433,
    0x7f000001, 0177.0.0.1, 127.1), IPv6 in any case and compression, in brackets or not, and
    IPv4-mapped IPv6 (::ffff:127.0.0.1, which is 127.0.0.1).
    """
    import _socket

    h = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in h:
        addr, _, zone = h.partition("%")
        try:
            packed = _socket.inet_pton(_socket.AF_INET6, addr)
        except (OSError, ValueError):
            return None
        if packed.startswith(_MAPPED):
            return _socket.inet_ntop(_socket.AF_INET, packed[12:])
        return "[" + _socket.inet_ntop(_socket.AF_INET6, packed) + (f"%{zone}" if zone else "") + "]"
    if h and h[0].isdigit() and set(h) <= _IPV4_CHARS:
        try:
            return _socket.inet_ntop(_socket.AF_INET, _socket.inet_aton(h))
        except (OSError, ValueError):
            return None
    return None


def server_parts(url: str) -> tuple[str, str, str, str]:
    """(scheme, host, port, path) of a server URL, each in its one spelling.

    A URL without a scheme is taken as https, as kubectl does with TLS settings. The host is
    lower case without a trailing dot, or canonical_ip's form; the port is decimal without
    leading zeros, the scheme's default when absent; the path has no trailing slash.
    """
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "https", url
    scheme = scheme.lower()
    for mark in ("?", "#"):
        rest = rest.partition(mark)[0]
    hostport, _, path = rest.partition("/")
    hostport = hostport.rpartition("@")[2]  # user info never names another cluster
    if hostport.startswith("["):  # IPv6 literal
        host, _, after = hostport.partition("]")
        host += "]"
        port = after[1:] if after.startswith(":") else ""
    elif hostport.count(":") > 1:  # a bare IPv6 address (kubectl would refuse it)
        host, port = hostport, ""
    else:
        host, _, port = hostport.partition(":")
    host = canonical_ip(host) or host.lower().rstrip(".")
    if port.isdigit():
        port = str(int(port))
    port = port or _DEFAULT_PORTS.get(scheme, "")
    path = "/".join(p for p in path.split("/") if p)
    return scheme, host, port, ("/" + path if path else "")


def normalise_server(url: str) -> str:
    """A comparable form of a server URL: two spellings of one server give the same string."""
    scheme, host, port, path = server_parts(url)
    return f"{scheme}://{host}:{port}{path}"


def address_key(ip: str) -> str:
    """What an address is for comparison: every address of this machine is one (LOOPBACK),
    since a server listening on all of them answers on each."""
    bare = ip.strip("[]").partition("%")[0]
    if bare.startswith("127.") or bare in ("::1", "0.0.0.0", "::"):
        return LOOPBACK
    return ip


def is_ip(host: str) -> bool:
    """Whether a host from server_parts is an IP address (not a name to look up)."""
    return host.startswith("[") or (bool(host) and host[0].isdigit() and canonical_ip(host) == host)


# -- addresses of host names ---------------------------------------------------------------------


def _read_cache() -> dict[str, tuple[float, tuple[str, ...]]]:
    from kctx import paths
    from kctx.fsutil import read_marshal

    try:
        data = read_marshal(paths.addresses_cache_file())
        if isinstance(data, dict) and data.get("version") == CACHE_VERSION and isinstance(data.get("hosts"), dict):
            return data["hosts"]
    except (OSError, EOFError, ValueError, TypeError):
        pass
    return {}


def _write_cache(hosts: dict[str, tuple[float, tuple[str, ...]]], now: float) -> None:
    import marshal

    from kctx import paths
    from kctx.fsutil import atomic_write

    fresh = {h: v for h, v in hosts.items() if v[0] > now}
    try:
        atomic_write(paths.addresses_cache_file(), marshal.dumps({"version": CACHE_VERSION, "hosts": fresh}),
                     fsync=False)
    except OSError:
        pass  # an unwritable cache means looking up again next time, nothing worse


def _lookup(host: str) -> tuple[str, ...] | None:
    """The addresses of `host` by getaddrinfo (canonical, deduplicated); () when the name does
    not exist, None when the lookup failed otherwise (no answer, a broken resolver)."""
    import _socket

    try:
        infos = _socket.getaddrinfo(host, None, 0, _socket.SOCK_STREAM)
    except _socket.gaierror as e:
        missing = {getattr(_socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(_socket, n)}
        return () if e.errno in missing else None
    except (OSError, UnicodeError, ValueError):
        return None
    out: list[str] = []
    for info in infos:
        ip = canonical_ip(str(info[4][0]))
        if ip and ip not in out:
            out.append(ip)
    return tuple(out)


def resolve(hosts: "Iterable[str]", budget: float = RESOLVE_BUDGET,
            lookup: "Callable[[str], tuple[str, ...] | None] | None" = None) -> "dict[str, frozenset[str] | None]":
    """{host: its address keys} for hosts from server_parts; None where kctx cannot tell.

    IP addresses answer themselves. Names come from the cache while fresh, else from lookups
    run side by side, all of them together given `budget` seconds: a lookup still running
    then, or failing, cannot tell (a name that does not exist has no addresses: frozenset()).
    """
    import time

    out: dict[str, frozenset[str] | None] = {}
    names: list[str] = []
    for host in hosts:
        if host in out or host in names:
            continue
        if is_ip(host):
            out[host] = frozenset((address_key(host),))
        elif host:
            names.append(host)
        else:
            out[host] = None
    if not names:
        return out
    now = time.time()
    cache = _read_cache()
    todo = []
    for host in names:
        hit = cache.get(host)
        if hit is not None and hit[0] > now:
            out[host] = frozenset(address_key(a) for a in hit[1])
        else:
            todo.append(host)
    if not todo:
        return out
    answers = _run_lookups(todo, budget, lookup or _lookup)
    now = time.time()
    learned = False
    for host in todo:
        found = answers.get(host)
        out[host] = None if found is None else frozenset(address_key(a) for a in found)
        if found is not None:
            cache[host] = (now + (FOUND_TTL if found else MISSING_TTL), found)
            learned = True
    if learned:
        _write_cache(cache, now)
    return out


def _run_lookups(hosts: list[str], budget: float,
                 lookup: "Callable[[str], tuple[str, ...] | None]") -> "dict[str, tuple[str, ...] | None]":
    """The lookups run side by side (at most MAX_LOOKUPS at once); what finished within
    `budget` seconds."""
    import _thread

    answers: dict[str, tuple[str, ...] | None] = {}
    queue = list(reversed(hosts))
    done = _thread.allocate_lock()
    done.acquire()
    running = [min(MAX_LOOKUPS, len(hosts))]
    guard = _thread.allocate_lock()

    def work() -> None:
        while True:
            try:
                host = queue.pop()
            except IndexError:
                break
            try:
                answers[host] = lookup(host)
            except Exception:  # noqa: BLE001 - a failed lookup is an unknown answer, never a crash
                answers[host] = None
        with guard:
            running[0] -= 1
            if not running[0]:
                done.release()

    # A lookup that never returns is left behind: `k` execs kubectl or exits, which ends it. The
    # threads block the signals a terminal sends, so that Ctrl-C at k's question always reaches
    # the main thread (a signal the kernel hands to a lookup thread would leave it reading on).
    import _signal

    quiet = {getattr(_signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGTSTP") if hasattr(_signal, n)}
    before = _signal.pthread_sigmask(_signal.SIG_BLOCK, quiet)
    try:
        for _ in range(running[0]):
            _thread.start_new_thread(work, ())
    finally:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, before)
    done.acquire(timeout=max(budget, 0.001))
    return dict(answers)


# -- CA certificates ------------------------------------------------------------------------------

_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"


def _sha256_hex(data: bytes) -> str:
    try:
        from _sha2 import sha256  # type: ignore[import-not-found]  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found, no-redef]  # Python 3.11
        except ImportError:
            from hashlib import sha256  # type: ignore[no-redef]
    return str(sha256(data).hexdigest())


def pem_fingerprints(pem: bytes) -> tuple[str, ...]:
    """SHA-256 (lowercase hex) of the DER of every CERTIFICATE block of a PEM bundle, in order.

    The same bytes `ssl.PEM_cert_to_DER_cert` gives for each block (without importing ssl);
    the first equals `openssl x509 -noout -fingerprint -sha256` without the colons.
    """
    import binascii

    out: list[str] = []
    start = pem.find(_BEGIN)
    while start >= 0:
        end = pem.find(_END, start)
        if end < 0:
            break
        try:
            der = binascii.a2b_base64(pem[start + len(_BEGIN):end])
        except (binascii.Error, ValueError):
            der = b""
        if der:
            digest = _sha256_hex(der)
            if digest not in out:
                out.append(digest)
        start = pem.find(_BEGIN, end)
    return tuple(out)


def ca_fingerprints(cluster: "dict[str, Any]", base: str | None = None) -> tuple[str, ...]:
    """The fingerprints of the CA certificates a kubeconfig cluster trusts (see pem_fingerprints).

    From certificate-authority-data (which wins, as in kubectl), else the certificate-authority
    file (relative to `base`, the folder of the kubeconfig naming it). () when there is none,
    or it cannot be read or holds no certificate (then kubectl cannot verify the server either).
    """
    import binascii

    data = cluster.get("certificate-authority-data")
    if isinstance(data, str) and data.strip():
        try:
            return pem_fingerprints(binascii.a2b_base64(data.encode("ascii", "replace")))
        except (binascii.Error, ValueError):
            return ()
    path = cluster.get("certificate-authority")
    if isinstance(path, str) and path:
        if base and not os.path.isabs(path):
            path = os.path.join(base, path)
        try:
            with open(path, "rb") as f:
                return pem_fingerprints(f.read(1 << 22))
        except OSError:
            return ()
    return ()


def ca_fingerprint(cluster: "dict[str, Any]") -> str | None:
    """The fingerprint of a cluster's CA certificate (the first of a bundle), or None."""
    found = ca_fingerprints(cluster)
    return found[0] if found else None
