"""Verified kubectl downloads from a local dl.k8s.io look-alike (HTTPS with the test CA,
file:// and plain folders): digests, truncation, 404 → stable-X.Y, retries, timeouts,
full disk, concurrent first downloads, progress bar."""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import pytest
from mirror import KubectlMirror, file_digests

from kctx import paths
from kctx.errors import FatalError
from kctx.kubectl import download, installed

V = "1.30.4"


def leftovers() -> list[str]:
    """Temp files or half-made version folders in the kubectl cache (or its staging folder)."""
    found = []
    for root, dirs, files in (*os.walk(paths.kubectl_cache_dir()), *os.walk(paths.kubectl_staging_dir())):
        for n in files:
            if n.endswith(".tmp"):
                found.append(os.path.join(root, n))
        for d in dirs:
            full = os.path.join(root, d)
            if d[:1].isdigit() and not os.path.isfile(os.path.join(full, "kubectl")):
                found.append(full)
    return found


@pytest.fixture
def https(mirror: KubectlMirror, monkeypatch: pytest.MonkeyPatch) -> KubectlMirror:
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", mirror.url)
    monkeypatch.setattr(download, "BACKOFF", (0.01, 0.01))
    return mirror


def assert_intact(path: str, kubectl_bin: str) -> None:
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == file_digests(kubectl_bin)[0]


def test_install_verified_atomic_and_runs(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin)
    path = download.install(V)
    assert path == paths.kubectl_binary(V)
    assert_intact(path, kubectl_bin)
    out = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True, check=True)
    assert "clientVersion" in out.stdout
    assert download.verify_installed(V) is True
    assert leftovers() == []
    got = [r.path for r in https.requests]
    assert https.binary_path(V) in got
    assert https.binary_path(V) + ".sha256" in got and https.binary_path(V) + ".sha512" in got


def test_one_download_then_none(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin)
    download.ensure(V)
    https.clear()
    assert download.ensure(V) == (paths.kubectl_binary(V), V)
    assert https.requests == []


@pytest.mark.parametrize("which", ["sha256", "sha512"])
def test_tampered_artifact_installs_nothing(which: str, https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin, tamper=True, sha256=which == "sha256", sha512=which == "sha512")
    with pytest.raises(FatalError) as err:
        download.install(V)
    msg = str(err.value)
    assert "does not match" in msg and "nothing was installed" in msg and "\n" not in msg
    assert not os.path.exists(paths.kubectl_binary(V))
    assert leftovers() == []
    assert installed.installed_versions() == []


def test_sha512_alone_is_enough_but_no_digest_is_refused(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version("1.30.5", kubectl_bin, sha256=False)
    assert download.install("1.30.5")
    https.add_version("1.30.6", kubectl_bin, sha256=False, sha512=False)
    with pytest.raises(FatalError, match="unverified"):
        download.install("1.30.6")
    assert not os.path.exists(paths.kubectl_binary("1.30.6"))
    assert leftovers() == []


def test_truncated_download_is_retried_then_refused(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin, truncate=True)
    t = time.monotonic()
    with pytest.raises(FatalError) as err:
        download.install(V)
    assert time.monotonic() - t < 30
    assert "nothing was installed" in str(err.value)
    assert len(https.downloads(V)) == download.ATTEMPTS
    assert not os.path.exists(paths.kubectl_binary(V))
    assert leftovers() == []


def test_transient_errors_are_retried(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin, fail_times=2)
    path = download.install(V)
    assert_intact(path, kubectl_bin)
    assert [r.status for r in https.downloads(V)] == [503, 503, 200]


def test_persistent_errors_give_up(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin, fail_times=10)
    with pytest.raises(FatalError, match="HTTP 503"):
        download.install(V)
    assert len(https.downloads(V)) == download.ATTEMPTS
    assert leftovers() == []


def test_404_falls_back_to_newest_patch_and_remembers(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin, missing=True)
    https.add_version("1.30.9", kubectl_bin)
    https.add_version("1.30.7", kubectl_bin)
    path, got = download.ensure(V)
    assert got == "1.30.9" and path == paths.kubectl_binary("1.30.9")
    assert "/release/stable-1.30.txt" in [r.path for r in https.requests]
    https.clear()
    assert download.ensure(V) == (path, "1.30.9")
    assert https.requests == []  # the fallback is remembered: no 404 on every `k`
    assert installed.installed_path(V) == (path, "1.30.9")


def test_404_and_no_stable_file(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version("1.26.1", kubectl_bin, missing=True)
    with pytest.raises(FatalError) as err:
        download.ensure("1.26.1")
    assert "no kubectl v1.26.1" in str(err.value) and "stable-1.26.txt" in str(err.value)
    assert leftovers() == []


def test_stable_file_with_garbage_is_refused(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version("1.29.3", kubectl_bin)
    https.set_stable_minor("1.29", "../../../etc/passwd")
    with pytest.raises(FatalError, match="does not name a version"):
        download.newest_patch("1.29")
    https.set_stable_minor("1.29", "1.31.0")
    with pytest.raises(FatalError, match="not a 1.29 release"):
        download.newest_patch("1.29")


def test_minor_install_takes_newest_patch(https: KubectlMirror, kubectl_bin: str) -> None:
    for v in ("1.31.1", "1.31.2", "1.31.0"):
        https.add_version(v, kubectl_bin)
    assert download.newest_patch("1.31") == "1.31.2"
    path, got = download.ensure("1.31")
    assert got == "1.31.2" and os.path.isfile(path)


def test_timeout_is_bounded(https: KubectlMirror, kubectl_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    https.add_version(V, kubectl_bin, slow=3.0)
    monkeypatch.setattr(download, "_timeout", lambda: 0.5)
    t = time.monotonic()
    with pytest.raises(FatalError, match="no answer within"):
        download.install(V)
    assert time.monotonic() - t < 10
    assert leftovers() == []


def test_mirror_down_with_warm_cache(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin)
    download.ensure(V)
    https.stop()
    assert download.ensure(V) == (paths.kubectl_binary(V), V)
    with pytest.raises(FatalError) as err:
        download.ensure("1.30.5")
    assert "cannot download" in str(err.value) or "cannot read" in str(err.value)
    assert leftovers() == []


def test_untrusted_mirror_certificate(mirror: KubectlMirror, kubectl_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror.add_version(V, kubectl_bin)
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", mirror.url)
    with pytest.raises(FatalError) as err:
        download.install(V)
    assert "not trusted" in str(err.value) and "SSL_CERT_FILE" in str(err.value)
    assert mirror.downloads(V) == [] or all(r.status == 200 for r in mirror.downloads(V))
    assert leftovers() == []


@pytest.mark.parametrize("form", ["file_url", "folder"])
def test_local_mirrors(form: str, mirror: KubectlMirror, kubectl_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror.add_version(V, kubectl_bin)
    mirror.add_version("1.29.2", kubectl_bin, tamper=True)
    mirror.add_version("1.28.1", kubectl_bin, truncate=True)
    url = mirror.file_url if form == "file_url" else str(mirror.root)
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", url)
    mirror.stop()  # nothing goes over the network
    path, got = download.ensure("1.30")
    assert got == V
    assert_intact(path, kubectl_bin)
    with pytest.raises(FatalError, match="does not match"):
        download.install("1.29.2")
    with pytest.raises(FatalError, match="does not match"):
        download.install("1.28.1")  # a short file on disk: caught by its digest
    with pytest.raises(download.NotFound):
        download.install("1.22.0")
    assert leftovers() == []


def test_full_disk_installs_nothing(https: KubectlMirror, kubectl_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    https.add_version(V, kubectl_bin)
    real_fdopen = os.fdopen
    written = [0]

    class Full:
        def __init__(self, f: object) -> None:
            self.f = f

        def write(self, data: bytes) -> int:
            written[0] += len(data)
            if written[0] > 10_000_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)  # type: ignore[attr-defined]

        def __getattr__(self, name: str) -> object:
            return getattr(self.f, name)

        def __enter__(self) -> Self:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()  # type: ignore[attr-defined]

    def fdopen(fd: int, mode: str = "r", *a: object, **k: object) -> object:
        f = real_fdopen(fd, mode, *a, **k)  # type: ignore[arg-type]
        return Full(f) if "w" in mode else f

    monkeypatch.setattr(download.os, "fdopen", fdopen)
    with pytest.raises(FatalError) as err:
        download.install(V)
    assert "no space left" in str(err.value) and "nothing was installed" in str(err.value)
    monkeypatch.undo()
    assert not os.path.exists(paths.kubectl_binary(V))
    assert leftovers() == []


def test_concurrent_first_downloads(https: KubectlMirror, kubectl_bin: str, tmp_path: Path) -> None:
    """Two processes on a fresh cache at once: both succeed, one download, one intact binary."""
    https.add_version(V, kubectl_bin, slow=0.5)
    code = ("import sys; from kctx.kubectl import download; p, v = download.ensure(sys.argv[1]); print(p)")
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", code, V], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert {o[0].strip() for o in outs} == {paths.kubectl_binary(V)}
    assert len(https.downloads(V)) == 1
    assert_intact(paths.kubectl_binary(V), kubectl_bin)
    assert leftovers() == []


def test_progress_bar_only_when_asked(https: KubectlMirror, kubectl_bin: str, capfd: pytest.CaptureFixture[str]) -> None:
    https.add_version(V, kubectl_bin)
    https.add_version("1.30.5", kubectl_bin)
    download.install(V)  # stderr is not a terminal here: quiet
    assert capfd.readouterr().err == ""
    download.install("1.30.5", progress=True)
    err = capfd.readouterr().err
    assert "kubectl v1.30.5" in err and "%" in err and "MB" in err


def test_unsupported_mirror_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCTX_KUBECTL_MIRROR", "ftp://example.invalid/k8s")
    with pytest.raises(FatalError, match="unsupported kubectl mirror"):
        download.install(V)


def test_mirror_from_config(tmp_path: Path, mirror: KubectlMirror, kubectl_bin: str) -> None:
    mirror.add_version(V, kubectl_bin)
    os.makedirs(paths.config_dir(), exist_ok=True)
    with open(paths.config_file(), "w", encoding="utf-8") as f:
        f.write(f"kubectl:\n  mirror: {mirror.url}/\n")
    assert download.mirror_url() == mirror.url
    assert download.install(V)


def test_remove_and_reinstall(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin)
    download.install(V)
    assert download.remove(V) > 60_000_000 * 0.5
    assert installed.installed_versions() == []
    download.install(V)
    assert installed.installed_versions() == [V]


def test_damaged_install_is_detected(https: KubectlMirror, kubectl_bin: str) -> None:
    https.add_version(V, kubectl_bin)
    path = download.install(V)
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    assert download.verify_installed(V) is False
