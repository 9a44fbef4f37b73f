"""Cluster identity: one spelling of a server URL, the addresses of a host (cached, with a
budget), and the CA fingerprint the index keeps for every entry."""

from __future__ import annotations

import base64
import json
import marshal
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from kctx import identity, paths
from kctx.identity import canonical_ip, normalise_server, resolve

KCTX = str(Path(sys.executable).parent / "kctx")


@pytest.mark.parametrize("spelling", [
    "https://127.0.0.1:6443", "https://127.0.0.1:06443", "https://127.0.0.1:6443/", "https://127.0.0.1:6443//",
    "HTTPS://127.0.0.1:6443", "https://[::ffff:127.0.0.1]:6443", "https://[::FFFF:7f00:1]:6443",
    "https://2130706433:6443", "https://0x7f000001:6443", "https://0177.0.0.1:6443", "https://127.1:6443",
    "https://admin:secret@127.0.0.1:6443", "127.0.0.1:6443", " https://127.0.0.1:6443 ",
    "https://127.0.0.1:6443?x=1", "https://127.0.0.1:0006443/#frag",
])
def test_spellings_of_one_ip_server(spelling: str) -> None:
    assert normalise_server(spelling) == "https://127.0.0.1:6443"


@pytest.mark.parametrize("a,b", [
    ("https://API.Example.COM", "https://api.example.com:443/"),
    ("https://api.example.com.:443", "https://api.example.com"),
    ("http://api.example.com", "http://api.example.com:80"),
    ("https://[2001:DB8:0:0::1]:6443", "https://[2001:db8::1]:6443"),
    ("https://rancher.example.com/k8s/clusters/c-abc/", "https://RANCHER.example.com:443/k8s/clusters/c-abc"),
])
def test_spellings_of_one_named_server(a: str, b: str) -> None:
    assert normalise_server(a) == normalise_server(b)


@pytest.mark.parametrize("a,b", [
    ("https://127.0.0.1:6443", "https://127.0.0.1:6444"),
    ("https://127.0.0.1:6443", "http://127.0.0.1:6443"),
    ("https://rancher.example.com/k8s/clusters/c-abc", "https://rancher.example.com/k8s/clusters/c-def"),
    ("https://api.example.com", "https://api.example.org"),
])
def test_different_servers_stay_different(a: str, b: str) -> None:
    assert normalise_server(a) != normalise_server(b)


def test_canonical_ip() -> None:
    assert canonical_ip("localhost") is None and canonical_ip("1e100.net") is None
    assert canonical_ip("0abc") is None and canonical_ip("face") is None
    assert canonical_ip("::1") == "[::1]" == canonical_ip("[0:0::1]")
    assert canonical_ip("fe80::1%eth0") == "[fe80::1%eth0]"
    assert canonical_ip("10.1") == "10.0.0.1"


def test_a_name_resolves_to_its_addresses_and_is_cached() -> None:
    found = resolve(["localhost", "127.0.0.1", "[::1]", "10.0.0.1"])
    # Every address of this machine is one: a server listening on all of them answers on each.
    assert found["localhost"] == {identity.LOOPBACK}
    assert found["127.0.0.1"] == found["[::1]"] == {identity.LOOPBACK}
    assert found["10.0.0.1"] == {"10.0.0.1"}
    cache = marshal.loads(Path(paths.addresses_cache_file()).read_bytes())
    expiry, addresses = cache["hosts"]["localhost"]
    assert expiry > time.time() and "127.0.0.1" in addresses
    assert oct(os.stat(paths.addresses_cache_file()).st_mode & 0o777) == "0o600"

    def never(host: str) -> tuple[str, ...]:
        raise AssertionError(f"looked up {host} although the answer was cached")

    assert resolve(["localhost"], lookup=never)["localhost"] == {identity.LOOPBACK}


def test_a_lookup_over_budget_or_failing_cannot_tell() -> None:
    def slow(host: str) -> tuple[str, ...] | None:
        time.sleep(3)
        return ("10.9.9.9",)

    t = time.monotonic()
    assert resolve(["slow.example"], budget=0.2, lookup=slow) == {"slow.example": None}
    assert time.monotonic() - t < 1.5
    assert resolve(["broken.example"], lookup=lambda h: None) == {"broken.example": None}
    assert not os.path.exists(paths.addresses_cache_file())  # nothing learned, nothing cached

    def crash(host: str) -> tuple[str, ...]:
        raise RuntimeError("resolver bug")

    assert resolve(["crash.example"], lookup=crash) == {"crash.example": None}
    # A name that does not exist has no addresses (remembered for a short while).
    assert resolve(["gone.example"], lookup=lambda h: ()) == {"gone.example": frozenset()}
    assert resolve(["gone.example"], lookup=lambda h: ("1.2.3.4",)) == {"gone.example": frozenset()}


def test_expired_answers_are_looked_up_again() -> None:
    resolve(["moved.example"], lookup=lambda h: ("10.0.0.1",))
    path = Path(paths.addresses_cache_file())
    cache = marshal.loads(path.read_bytes())
    cache["hosts"]["moved.example"] = (time.time() - 1, ("10.0.0.1",))
    path.write_bytes(marshal.dumps(cache))
    assert resolve(["moved.example"], lookup=lambda h: ("10.0.0.2",)) == {"moved.example": {"10.0.0.2"}}
    path.write_bytes(b"junk")  # a damaged cache is a cold one
    assert resolve(["moved.example"], lookup=lambda h: ("10.0.0.3",)) == {"moved.example": {"10.0.0.3"}}


# -- CA fingerprints -------------------------------------------------------------------------------


def reference_fingerprint(pem: bytes) -> str:
    """What `openssl x509 -fingerprint -sha256` shows, computed by two other libraries."""
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    by_cryptography = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()
    import hashlib

    assert hashlib.sha256(der).hexdigest() == by_cryptography
    return by_cryptography


def test_ca_fingerprint_from_data_file_and_bundle(tmp_path: Path) -> None:
    one, two = trustme.CA(), trustme.CA()
    pem1, pem2 = one.cert_pem.bytes(), two.cert_pem.bytes()
    fp1, fp2 = reference_fingerprint(pem1), reference_fingerprint(pem2)
    assert identity.ca_fingerprint({"certificate-authority-data": base64.b64encode(pem1).decode()}) == fp1
    (tmp_path / "ca.crt").write_bytes(pem2)
    assert identity.ca_fingerprint({"certificate-authority": str(tmp_path / "ca.crt")}) == fp2
    assert identity.ca_fingerprints({"certificate-authority": "ca.crt"}, str(tmp_path)) == (fp2,)
    # Data wins over the file, as in kubectl.
    both = {"certificate-authority-data": base64.b64encode(pem1).decode(),
            "certificate-authority": str(tmp_path / "ca.crt")}
    assert identity.ca_fingerprint(both) == fp1
    bundle = b"# a comment\n" + pem2 + b"\n" + pem1 + pem2
    assert identity.pem_fingerprints(bundle) == (fp2, fp1)
    for nothing in ({}, {"insecure-skip-tls-verify": True}, {"certificate-authority-data": "!!!"},
                    {"certificate-authority-data": base64.b64encode(b"not a cert").decode()},
                    {"certificate-authority": str(tmp_path / "missing.crt")}):
        assert identity.ca_fingerprint(nothing) is None, nothing


def test_the_index_keeps_every_entry_ca(tmp_path: Path, ca) -> None:  # type: ignore[no-untyped-def]
    from kctx.store import Store

    other = trustme.CA()
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "other.crt").write_bytes(other.cert_pem.bytes() + ca.pem)
    kc = tmp_path / "config"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [
            {"name": "a", "cluster": {"server": "https://127.0.0.1:1", "certificate-authority-data": ca.pem_b64}},
            {"name": "b", "cluster": {"server": "https://127.0.0.1:2", "certificate-authority": "certs/other.crt"}},
            {"name": "c", "cluster": {"server": "https://127.0.0.1:3", "insecure-skip-tls-verify": True}},
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in "abc"],
    }))
    Store().import_files([str(kc)])
    index = json.loads(Path(paths.index_file()).read_text())["entries"]
    mine, theirs = reference_fingerprint(ca.pem), reference_fingerprint(other.cert_pem.bytes())
    assert index["a"]["ca_sha256"] == mine and index["a"]["ca_bundle"] is None
    assert index["b"]["ca_sha256"] == theirs and index["b"]["ca_bundle"] == [theirs, mine]
    assert index["c"]["ca_sha256"] is None
    assert index["a"]["server_key"] == "https://127.0.0.1:1"
    assert marshal.loads(Path(paths.hot_index_file()).read_bytes())["entries"]["a"]["ca_sha256"] == mine

    # A store indexed before kctx kept fingerprints gets them when the index is next read.
    doc = json.loads(Path(paths.index_file()).read_text())
    for rec in doc["entries"].values():
        del rec["ca_sha256"]
        del rec["ca_bundle"]
        del rec["server_key"]
    Path(paths.index_file()).write_text(json.dumps(doc))
    assert Store().get("a").ca_sha256 == mine
    assert json.loads(Path(paths.index_file()).read_text())["entries"]["b"]["ca_sha256"] == theirs

    shown = subprocess.run([KCTX, "show", "b"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "CA sha256:" in shown.stdout and theirs in shown.stdout and "first of 2" in shown.stdout
    assert "same CA as:" in shown.stdout and " a" in shown.stdout
    as_json = json.loads(subprocess.run([KCTX, "show", "a", "-o", "json"], capture_output=True, text=True,
                                        check=True).stdout)
    assert as_json["ca_sha256"] == mine and as_json["same_ca"] == ["b"]
    insecure = subprocess.run([KCTX, "show", "c"], capture_output=True, text=True, check=True).stdout
    assert "CA sha256:" in insecure and "none" in insecure


def test_many_lookups_share_the_budget() -> None:
    import threading

    seen: list[str] = []
    lock = threading.Lock()
    at_once = [0, 0]

    def lookup(host: str) -> tuple[str, ...]:
        with lock:
            at_once[0] += 1
            at_once[1] = max(at_once)
        time.sleep(0.01)
        with lock:
            at_once[0] -= 1
            seen.append(host)
        return ("10.1.1.1",)

    names = [f"h{i}.example" for i in range(100)]
    found = resolve(names, budget=5, lookup=lookup)
    assert all(found[n] == {"10.1.1.1"} for n in names) and sorted(seen) == sorted(names)
    assert at_once[1] <= identity.MAX_LOOKUPS
