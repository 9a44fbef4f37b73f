"""An offline wheelhouse for installing kctx the ways users do, built from this test environment.

kctx's own wheel comes from `pip wheel --no-deps --no-build-isolation` of the checkout; each
dependency's wheel is rebuilt from its installed files (a wheel is a zip of the files its RECORD
lists, .dist-info included), so that pip, pipx and uv install with `--no-index --find-links`
and never reach a package index.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def closure(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions `names` need, themselves included (markers applied)."""
    env = default_environment()
    seen: dict[str, metadata.Distribution] = {}
    todo = [Requirement(n) for n in names]
    while todo:
        req = todo.pop()
        key = canonicalize_name(req.name)
        if key in seen:
            continue
        dist = metadata.distribution(req.name)
        seen[key] = dist
        for text in dist.requires or []:
            dep = Requirement(text)
            if dep.marker is None or dep.marker.evaluate({**env, "extra": ""}):
                todo.append(dep)
    return list(seen.values())


def _tag(dist: metadata.Distribution) -> str:
    text = dist.read_text("WHEEL") or ""
    tags = re.findall(r"^Tag:\s*(\S+)", text, re.MULTILINE)
    return tags[0] if tags else "py3-none-any"


def rebuild(dist: metadata.Distribution, dest: Path) -> Path:
    """A wheel of an installed distribution, from the files its RECORD lists."""
    name = re.sub(r"[-.]+", "_", dist.metadata["Name"])
    version = dist.version
    wheel = dest / f"{name}-{version}-{_tag(dist)}.whl"
    base = Path(str(dist.locate_file("")))
    rows = []
    info = None
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for f in dist.files or []:
            rel = f.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue  # console scripts (bin/) and byte code: the installer makes its own
            parts = rel.split("/")
            if parts[0].endswith(".dist-info"):
                info = parts[0]
                if parts[-1] in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
                    continue
            data = (base / f).read_bytes()
            z.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append((rel, f"sha256={digest}", str(len(data))))
        assert info, f"{dist.metadata['Name']} has no .dist-info in its RECORD"
        rows.append((f"{info}/RECORD", "", ""))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        z.writestr(f"{info}/RECORD", out.getvalue())
    return wheel


def source_copy(dest: Path) -> Path:
    """A copy of the checkout as `git archive` would give it (a build writes into its source)."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", "venv"))
    return dest


def build(dest: Path, extra: tuple[str, ...] = ()) -> Path:
    """kctx's wheel and its dependencies' (plus `extra` distributions) in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    src = source_copy(dest / "src")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(dest), str(src)], capture_output=True, text=True, timeout=300,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot build kctx's wheel: {proc.stderr[-2000:]}")
    shutil.rmtree(src)
    deps = [str(r) for r in (metadata.distribution("kctx").requires or []) if "extra ==" not in r]
    for dist in closure([*deps, *extra]):
        if canonicalize_name(dist.metadata["Name"]) != "kctx":
            rebuild(dist, dest)
    return dest
