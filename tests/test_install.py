"""kctx installed the ways users install Python command-line tools, each in a fresh folder:
pipx, uv tool, pip --user (default and elsewhere with PYTHONUSERBASE), a venv (activated or
not), Debian's system pip with --break-system-packages, an editable install, and `k` reached
through a symlink from another folder. Each gives working `kctx` and `k` commands, outside a
kctx shell and in one (the integration's `k` function and its fast path); nothing reaches a
package index: every installer takes the wheelhouse built once from this test environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import wheelhouse
from fakeapi import FakeAPIServer, write_kubeconfig

DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's own, whatever Python runs the tests
REQUIRE = bool(os.environ.get("KCTX_REQUIRE_SHELLS"))  # CI: nothing here may be skipped


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kctx's wheel and its dependencies' (setuptools for the editable install, pip for pipx's
    shared libraries), offline."""
    return wheelhouse.build(tmp_path_factory.mktemp("wheelhouse"), extra=("setuptools", "pip"))


def offline(wheels: Path) -> dict[str, str]:
    """Environment that keeps pip, pipx and uv on the wheelhouse."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_CACHE_DIR": "1", "UV_OFFLINE": "1", "UV_NO_INDEX": "1", "UV_FIND_LINKS": str(wheels),
            "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}


@dataclass
class Installed:
    """Where an install put `k` and `kctx`, and what the environment must hold to use them."""

    bin: Path  # the folder on PATH holding k and kctx
    env: dict[str, str]  # extra variables (PYTHONUSERBASE, VIRTUAL_ENV, PYTHONPATH)
    path: bool = True  # False: run them by absolute path, their folder is not on PATH


def base_python() -> str:
    """An interpreter outside any venv, for --user installs."""
    exe = getattr(sys, "_base_executable", None) or sys.executable
    if sys.prefix != sys.base_prefix:
        name = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        for cand in (Path(sys.base_prefix) / "bin" / name, Path(sys.base_prefix) / "bin" / "python3"):
            if cand.exists():
                return str(cand)
    return exe


def externally_managed(python: str) -> bool:
    proc = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                          capture_output=True, text=True, check=True)
    return (Path(proc.stdout.strip()) / "EXTERNALLY-MANAGED").exists()


def run(cmd: list[str], env: dict[str, str], timeout: float = 300, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def need(thing: str | None, what: str) -> None:
    if thing is None or not os.path.exists(thing):
        if REQUIRE:
            pytest.fail(f"{what} is missing")
        pytest.skip(f"{what} is missing")


def _module(name: str) -> str | None:
    import importlib.util

    spec = importlib.util.find_spec(name)
    return spec.origin if spec else None


# -- the install methods ------------------------------------------------------------------------


def _venv(folder: Path, wheels: Path, env: dict[str, str], editable: bool = False) -> Path:
    """A venv holding kctx. The venv gets no pip of its own (ensurepip alone takes seconds): this
    environment's pip installs into it (`pip --python`), as the venv's own pip would."""
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
           "--no-index", "--find-links", str(wheels)]
    if editable:
        src = wheelhouse.source_copy(folder / "src")
        run([*pip, "setuptools>=77"], env)
        run([*pip, "--no-build-isolation", "-e", str(src)], env)
    else:
        run([*pip, "kctx"], env)
    return venv / "bin"


def install_venv(folder: Path, wheels: Path, env: dict[str, str]) -> Installed:
    bindir = _venv(folder, wheels, env)
    return Installed(bindir, {"VIRTUAL_ENV": str(bindir.parent)})  # activated: its bin first on PATH


def install_venv_not_activated(folder: Path, wheels: Path, env: dict[str, str]) -> Installed:
    return Installed(_venv(folder, wheels, env), {}, path=False)


def install_editable(folder: Path, wheels: Path, env: dict[str, str]) -> Installed:
    return Installed(_venv(folder, wheels, env, editable=True), {})


def install_pipx(folder: Path, wheels: Path, env: dict[str, str]) -> Installed:
    need(shutil.which("pipx", path=str(Path(sys.executable).parent)) or _module("pipx"), "pipx (a test extra)")
    extra = {"PIPX_HOME": str(folder / "pipx"), "PIPX_BIN_DIR": str(folder / "bin"),
             "PIPX_MAN_DIR": str(folder / "man"), "PIPX_DEFAULT_PYTHON": sys.executable}
    run([sys.executable, "-m", "pipx", "install", "--pip-args", f"--no-index --find-links {wheels}", "kctx"], {**env, **extra})
    return Installed(folder / "bin", {})


def install_uv(folder: Path, wheels: Path, env: dict[str, str]) -> Installed:
    need(_module("uv"), "uv (a test extra)")
    extra = {"UV_TOOL_DIR": str(folder / "tools"), "UV_TOOL_BIN_DIR": str(folder / "bin"),
             "UV_CACHE_DIR": str(folder / "cache"), "UV_PYTHON": sys.executable}
    run([sys.executable, "-m", "uv", "tool", "install", "--no-index", "--find-links", str(wheels), "kctx"], {**env, **extra})
    return Installed(folder / "bin", {})


def _user(python: str, folder: Path, wheels: Path, env: dict[str, str], base: Path | None) -> Installed:
    extra = {} if base is None else {"PYTHONUSERBASE": str(base)}
    cmd = [python, "-m", "pip", "install", "-q", "--user", "--no-index", "--find-links", str(wheels), "kctx"]
    if subprocess.run([python, "-c", "import kctx"], capture_output=True, check=False).returncode == 0:
        # kctx and its dependencies all go to the user site, even when this interpreter has them
        # already (CI installs the test extras into it).
        cmd.append("--ignore-installed")
    if externally_managed(python):
        cmd.append("--break-system-packages")
    run(cmd, {**env, **extra})
    where = base if base is not None else Path(env["HOME"]) / ".local"
    return Installed(where / "bin", extra)


def install_user(folder: Path, wheels: Path, env: dict[str, str]) -> Installed:
    return _user(base_python(), folder, wheels, env, None)  # ~/.local (HOME is this test's)


def install_user_elsewhere(folder: Path, wheels: Path, env: dict[str, str]) -> Installed:
    return _user(base_python(), folder, wheels, env, folder / "userbase")


def install_debian_system(folder: Path, wheels: Path, env: dict[str, str]) -> Installed:
    """Debian's /usr/bin/python3 and its pip, system-wide with --break-system-packages: the
    files land as on a real system install (/usr/local/bin, .../dist-packages), under --root
    so that this machine is left alone; PYTHONPATH stands in for the root being /."""
    need(DEBIAN_PYTHON, "Debian's python3")
    probe = subprocess.run([DEBIAN_PYTHON, "-m", "pip", "--version"], capture_output=True, check=False)
    if probe.returncode != 0:
        need(None, "Debian's pip (apt-get install python3-pip)")
    root = folder / "root"
    run([DEBIAN_PYTHON, "-m", "pip", "install", "-q", "--break-system-packages", "--root", str(root),
         "--no-index", "--find-links", str(wheels), "kctx"], env)
    site = next(root.glob("usr/local/lib/python3*/dist-packages"))
    return Installed(root / "usr" / "local" / "bin", {"PYTHONPATH": str(site)})


def install_debian_user(folder: Path, wheels: Path, env: dict[str, str]) -> Installed:
    need(DEBIAN_PYTHON, "Debian's python3")
    return _user(DEBIAN_PYTHON, folder, wheels, env, None)


METHODS: dict[str, Callable[[Path, Path, dict[str, str]], Installed]] = {
    "pipx": install_pipx,
    "uv-tool": install_uv,
    "pip-user": install_user,
    "pip-user-pythonuserbase": install_user_elsewhere,
    "venv-activated": install_venv,
    "venv-not-activated": install_venv_not_activated,
    "debian-system-pip": install_debian_system,
    "debian-pip-user": install_debian_user,
    "editable": install_editable,
}


# -- what every install must do -----------------------------------------------------------------


def _clean_env(tmp_path: Path, kubectl_dir: Path) -> dict[str, str]:
    """No trace of the test environment: not its venv on PATH, no PYTHON* or VIRTUAL_ENV."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KCTX_", "KUBE", "PYTHON", "PIP_", "UV_", "PIPX_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join([str(kubectl_dir), "/usr/local/bin", "/usr/bin", "/bin"])
    env["KCTX_KUBECTL_MIRROR"] = f"file://{tmp_path}/no-mirror"  # the kubectl on PATH, with a warning
    env["NO_COLOR"] = "1"
    return env


def check(inst: Installed, env: dict[str, str], tmp_path: Path, dev: FakeAPIServer, prod: FakeAPIServer,
          link: bool = False) -> None:
    env = {**env, **inst.env}
    if inst.path:
        env["PATH"] = f"{inst.bin}{os.pathsep}{env['PATH']}"
    kctx = str(inst.bin / "kctx")
    k = str(inst.bin / "k")
    if link:  # ~/bin/k -> the installed k, and ~/bin first on PATH
        home_bin = Path(env["HOME"]) / "bin"
        home_bin.mkdir(parents=True, exist_ok=True)
        (home_bin / "k").symlink_to(k)
        k = str(home_bin / "k")
        env["PATH"] = f"{home_bin}{os.pathsep}{env['PATH']}"

    def ok(*cmd: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = run(list(cmd), {**env, **(extra or {})}, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    assert "Usage" in ok(kctx, "--help").stdout
    init = ok(kctx, "init", "bash").stdout
    assert "__kctx_k_fast" in init and "kctx" in init
    assert "Client Version" in ok(k, "version", "--client").stdout
    src = tmp_path / "config"
    write_kubeconfig(src, [{"name": "dev", "server": dev, "namespace": "web"},
                           {"name": "prod", "server": prod, "namespace": "payments"}])
    ok(kctx, "import", str(src))
    ok(kctx, "tier", "prod", "prod")
    entries = Path(env["KCTX_HOME"]) / "data" / "entries"

    # Outside a kctx shell: the installed k command.
    before = len(dev.requests)
    ok(k, "get", "pods", extra={"KUBECONFIG": str(entries / "dev.yaml")})
    assert any(r.path.endswith("/pods") for r in dev.requests[before:])
    refused = subprocess.run([k, "delete", "pod", "x"], env={**env, "KUBECONFIG": str(entries / "prod.yaml")},
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                             start_new_session=True, check=False)
    assert refused.returncode == 4 and "KCTX_CONFIRM=prod" in refused.stderr, refused.stderr

    # In a kctx shell: the integration's k function (reads from the note, the rest through its
    # Python with -I -S), in bash as users load it.
    script = (f'eval "$({kctx} init bash)" || exit 9\n'
              "kctx use dev || exit 8\n"
              "k get pods || exit 7\n"  # through Python: writes the note
              "[ -s \"${KUBECONFIG%%:*}.k\" ] || exit 6\n"
              "k get pods -n kube-system || exit 5\n"  # the fast path
              "kctx use prod || exit 4\n"
              "k delete pod x; echo \"refused=$?\"\n")
    before = len(dev.requests)
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env, capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL, start_new_session=True, check=False)
    assert proc.returncode == 0 and "refused=4" in proc.stdout, f"{proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    paths = [r.path for r in dev.requests[before:]]
    assert any(p.endswith("/namespaces/web/pods") for p in paths)
    assert any(p.endswith("/namespaces/kube-system/pods") for p in paths)
    assert [str(r) for r in prod.requests if r.method not in ("GET", "HEAD")] == []


@pytest.mark.parametrize("method", list(METHODS))
def test_installed(method: str, wheels: Path, tmp_path: Path, kubectl_path_dir: Path,
                   fake_api: Callable[..., FakeAPIServer]) -> None:
    env = {**_clean_env(tmp_path, kubectl_path_dir), "HOME": os.environ["HOME"],
           "KCTX_HOME": str(tmp_path / "kctx")}
    inst = METHODS[method](tmp_path / "install", wheels, {**env, **offline(wheels)})
    check(inst, env, tmp_path, fake_api(name="dev"), fake_api(name="prod"), link=method in ("pipx", "venv-not-activated"))


def _remove_kctx(inst: Installed) -> None:
    """kctx's folder deleted from the venv's site-packages."""
    site = next((inst.bin.parent / "lib").glob("python*/site-packages"))
    shutil.rmtree(site / "kctx")


def _upgrade_python(inst: Installed) -> None:
    """The venv's lib/pythonX.Y no longer that of its interpreter, as after the OS upgraded
    python3.11 to 3.12 under a pipx venv: the interpreter looks for a site-packages that is not there."""
    lib = next((inst.bin.parent / "pipx" / "venvs" / "kctx" / "lib").glob("python3.*"))
    lib.rename(lib.with_name("python3.0"))


BROKEN = {"venv, kctx's folder removed": ("venv-not-activated", _remove_kctx),
          "pipx, its Python upgraded": ("pipx", _upgrade_python)}


@pytest.mark.parametrize("case", list(BROKEN))
def test_missing_packages_say_so_in_one_line(case: str, wheels: Path, tmp_path: Path, kubectl_path_dir: Path,
                                              fake_api: Callable[..., FakeAPIServer]) -> None:
    """kctx's packages gone from where its Python looks: `k` and `kctx`, as commands and as the
    functions of a shell that loaded the integration before, say so in one line with the fix,
    exit non-zero, and run no kubectl (no request reaches the API server)."""
    method, breaks = BROKEN[case]
    env = {**_clean_env(tmp_path, kubectl_path_dir), "HOME": os.environ["HOME"],
           "KCTX_HOME": str(tmp_path / "kctx")}
    inst = METHODS[method](tmp_path / "install", wheels, {**env, **offline(wheels)})
    if method == "pipx":
        env["PATH"] = f"{inst.bin}{os.pathsep}{env['PATH']}"
    kctx, k = str(inst.bin / "kctx"), str(inst.bin / "k")
    api = fake_api(name="dev")
    src = tmp_path / "config"
    write_kubeconfig(src, [{"name": "dev", "server": api, "namespace": "web"}])
    run([kctx, "import", str(src)], env)
    init = run([kctx, "init", "bash"], env).stdout
    entry = str(tmp_path / "kctx" / "data" / "entries" / "dev.yaml")
    breaks(inst)
    before = len(api.requests)

    def one_line(cmd: list[str], prog: str, fix: str, extra: dict[str, str] | None = None) -> None:
        proc = subprocess.run(cmd, env={**env, "KUBECONFIG": entry, **(extra or {})}, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{prog}: cannot start") and fix in lines[0], proc.stderr
        assert proc.stdout == ""

    fix = "pipx reinstall kctx" if method == "pipx" else "pip install --force-reinstall kctx"
    # The commands, as scripts run them.
    one_line([k, "get", "pods"], "k", fix)
    one_line([k, "delete", "pod", "x"], "k", fix)
    one_line([kctx, "--help"], "kctx", fix)
    one_line([kctx, "use", "dev"], "kctx", fix)
    # The integration's functions, in a shell that loaded it while kctx was still there.
    for line in ("k get pods", "kctx --help", "kctx use dev"):
        one_line(["bash", "--norc", "--noprofile", "-c", f"{init}\n{line}"], line.split()[0], "kctx init")
    assert api.requests[before:] == []


def test_wheelhouse_is_complete(wheels: Path) -> None:
    names = {p.name.split("-")[0].lower() for p in wheels.glob("*.whl")}
    assert {"kctx", "click", "pyyaml", "packaging", "httpx", "platformdirs", "setuptools"} <= names


# -- a plain venv install, in detail (formerly test_guard_install.py) ----------------------------


@pytest.fixture(scope="module")
def venv_bin(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with kctx from the wheelhouse, and a .pth file that tells when site ran."""
    folder = tmp_path_factory.mktemp("fresh")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    bindir = _venv(folder, wheels, {**env, **offline(wheels)})
    site = next((bindir.parent / "lib").glob("python*/site-packages"))
    (site / "zz-kctx-test.pth").write_text("import sys; sys.stderr.write('PTH-RAN\\n')\n")
    return bindir


def _env(path: list[str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCTX_", "KUBE", "PYTHON"))}
    env["PATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


def test_help_without_and_with_kubectl(venv_bin: Path, kubectl_path_dir: Path) -> None:
    bare = subprocess.run([str(venv_bin / "k"), "--help"], env=_env([str(venv_bin), "/usr/sbin", "/sbin"]),
                          capture_output=True, text=True, timeout=60, check=False)
    assert bare.returncode == 0, bare.stderr
    assert "k: kubectl with a guard" in bare.stdout and "KCTX_CONFIRM" in bare.stdout
    full = subprocess.run([str(venv_bin / "k"), "--help"], env=_env([str(venv_bin), str(kubectl_path_dir)]),
                          capture_output=True, text=True, timeout=60, check=False)
    assert full.returncode == 0 and "kubectl controls the Kubernetes cluster manager" in full.stdout


def test_guards_from_the_installed_package(venv_bin: Path, kubectl_bin: str, fake_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = fake_api(name="prod")
    kc = tmp_path / "config"
    write_kubeconfig(kc, [{"name": "prod", "server": api}])
    env = _env([str(venv_bin), "/usr/bin", "/bin"], KCTX_HOME=str(tmp_path / "kctx"), HOME=str(tmp_path),
               KCTX_KUBECTL=kubectl_bin)
    subprocess.run([str(venv_bin / "kctx"), "import", str(kc)], env=env, check=True, capture_output=True)
    env["KUBECONFIG"] = str(tmp_path / "kctx" / "data" / "entries" / "prod.yaml")
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    (link_dir / "k").symlink_to(venv_bin / "k")  # as pipx exposes it
    init = subprocess.run([str(venv_bin / "kctx"), "init", "bash"], env=env, capture_output=True, text=True,
                          check=True).stdout
    function = ["bash", "--norc", "-c", init + '\nk "$@"', "k"]  # the integration's k: -I -S, no site
    for k in ([str(venv_bin / "k")], [str(link_dir / "k")], function):
        read = subprocess.run([*k, "get", "pods"], env=env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, start_new_session=True, check=False)
        assert read.returncode == 0, read.stderr
        write = subprocess.run([*k, "delete", "pod", "x"], env=env, capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL, start_new_session=True, check=False)
        assert write.returncode == 4 and "KCTX_CONFIRM=prod" in write.stderr
        if k is function:
            assert "PTH-RAN" not in read.stderr + write.stderr
    assert [str(r) for r in api.writes()] == []
    from kctx.kubectl.installed import is_kctx_own

    assert is_kctx_own(str(venv_bin / "k")) and is_kctx_own(str(link_dir / "k"))  # never run as kubectl
