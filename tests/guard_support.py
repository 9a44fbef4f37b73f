"""What the guard's tests share: a store with a protected and an unprotected entry, each on its
own recording fake API server, a shell-like session, and `k` run without a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPIServer, Request, is_write, write_kubeconfig

VENV_BIN = Path(sys.executable).parent
K = str(VENV_BIN / "k")

CONFIG = """\
guard:
  namespace_tiers:
    - {entry: shared, namespace: "prod-*", tier: prod}
"""


def persisting(req: Request) -> bool:
    """A write that would change a real cluster. Like fakeapi.is_write, and also not a DELETE
    whose DeleteOptions body asks for a dry run (kubectl sends dryRun there, not in the query)."""
    if not is_write(req):
        return False
    if req.method == "DELETE" and req.body:
        try:
            body = json.loads(req.body)
        except ValueError:
            return True
        if isinstance(body, dict) and "All" in (body.get("dryRun") or []):
            return False
    return True


def writes(server: FakeAPIServer) -> list[str]:
    return [str(r) for r in server.requests if persisting(r)]


def deploy_script(folder: Path, kubectl: str = "kubectl", name: str = "deploy-staging.sh") -> Path:
    """A script that deletes pod web-2 with `kubectl` (a word looked up on PATH, or a path), as a
    staging deploy script run in the wrong shell would."""
    script = folder / name
    script.write_text(f"#!/bin/sh\n{kubectl} delete pod web-2\n")
    script.chmod(0o755)
    return script


@dataclass
class Guarded:
    """Entries prod (tier prod), dev (tier dev), shared (tier none; namespaces prod-* are
    prod by the config), each with its own server; `kubeconfig` holds all three contexts."""

    kubectl: str
    servers: dict[str, FakeAPIServer]
    kubeconfig: Path
    root: Path
    sessions: dict[str, str] = field(default_factory=dict)

    def entry_file(self, name: str) -> str:
        from kctx import paths

        return paths.entry_file(name)

    def session(self, name: str, namespace: str | None = None) -> str:
        """A session file for entry `name`, as `kctx use` writes it."""
        from kctx import session, store

        e = store.Store().get(name)
        path = session.new_path(os.getpid())
        session.write(path, session.render(name, e.cluster, e.user, namespace or e.namespace))
        self.sessions[name] = path
        return path

    def shell_kubeconfig(self, name: str, namespace: str | None = None) -> str:
        """KUBECONFIG of a kctx shell that targets `name`: session file, then entry file."""
        return f"{self.session(name, namespace)}{os.pathsep}{self.entry_file(name)}"

    def env(self, entry: str | None = "prod", **extra: str | None) -> dict[str, str]:
        env = dict(os.environ)
        env["KCTX_KUBECTL"] = self.kubectl
        env["NO_COLOR"] = "1"
        if entry:
            env["KUBECONFIG"] = self.shell_kubeconfig(entry)
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def k(self, *args: str, entry: str | None = "prod", env: Mapping[str, str | None] | None = None,
          input: bytes | str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`k ARGS` in a new session: no controlling terminal, so /dev/tty cannot be opened."""
        full = self.env(entry, **dict(env or {}))
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run([K, *args], env=full, input=data,
                              stdin=None if data is not None else subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, start_new_session=True, check=False)
        return subprocess.CompletedProcess(proc.args, proc.returncode,
                                           proc.stdout.decode("utf-8", "replace"),
                                           proc.stderr.decode("utf-8", "replace"))

    def writes(self, name: str) -> list[str]:
        return writes(self.servers[name])

    def all_writes(self) -> dict[str, list[str]]:
        return {n: w for n in self.servers if (w := self.writes(n))}

    def clear(self) -> None:
        for s in self.servers.values():
            s.clear()

    def audit(self) -> list[dict[str, Any]]:
        from kctx import audit

        return audit.read()


def setup_guarded(tmp_path: Path, fake_api: Any, kubectl: str, config: str = CONFIG) -> Guarded:
    from kctx import paths, store

    servers = {name: fake_api(name=name) for name in ("prod", "dev", "shared")}
    kc = tmp_path / "kubeconfigs" / "config"
    write_kubeconfig(kc, [
        {"name": "prod", "server": servers["prod"], "namespace": "payments"},
        {"name": "dev", "server": servers["dev"], "namespace": "web"},
        {"name": "shared", "server": servers["shared"], "namespace": "dev-x"},
    ], current="dev")
    s = store.Store()
    s.import_files([str(kc)])
    tiers = ["prod", "staging", "dev", "none"]
    s.set_tier("prod", "prod", tiers)
    s.set_tier("dev", "dev", tiers)
    s.set_tier("shared", "none", tiers)
    cfg = paths.config_file()
    os.makedirs(os.path.dirname(cfg), exist_ok=True)
    Path(cfg).write_text(config)
    return Guarded(kubectl=kubectl, servers=servers, kubeconfig=kc, root=tmp_path)


@pytest.fixture(name="guarded")
def guarded_fixture(tmp_path: Path, fake_api: Any, kubectl_bin: str) -> Guarded:
    return setup_guarded(tmp_path, fake_api, kubectl_bin)
