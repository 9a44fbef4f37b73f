"""What the API guard's tests share: guarded sessions made as a shell's `kctx use` makes them,
clients pointed at them, and ways to look at the guard process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

VENV_BIN = Path(sys.executable).parent
EXPORTED = ("KUBECONFIG", "KCTX_CONTEXT", "KCTX_NAMESPACE", "KCTX_TIER")  # what `kctx use` exports


def shell_vars(code: str) -> dict[str, str]:
    """The variables that bash code printed by `kctx use` (and the other evaluated commands)
    sets: KUBECONFIG, __kctx_session, ..."""
    import shlex

    out = {}
    for line in code.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        while words and words[0] in ("builtin", "export"):
            words = words[1:]
        if len(words) == 1 and "=" in words[0]:
            key, value = words[0].split("=", 1)
            out[key] = value
    return out


class Shell:
    """A live process standing in for a shell: `kctx use` run for it as the integration would."""

    def __init__(self, kubectl: str | None = None) -> None:
        # `sleep` lives as long as the test needs: the guard watches this pid like a shell's.
        self.proc = subprocess.Popen(["sleep", "600"])
        self.pid = self.proc.pid
        self.vars: dict[str, str] = {}
        self.kubectl = kubectl

    def kctx(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        full = {**os.environ, "KCTX_SHELL": "bash", "KCTX_SHELL_PID": str(self.pid),
                "KCTX_SESSION": self.vars.get("__kctx_session", ""), **(env or {})}
        if self.kubectl:
            full.setdefault("KCTX_KUBECTL", self.kubectl)
        for key in EXPORTED:
            if key in self.vars:
                full.setdefault(key, self.vars[key])
        r = subprocess.run([VENV_BIN / "kctx", *args], capture_output=True, text=True, env=full,
                           check=False, timeout=60)
        if r.returncode == 0:
            self.vars.update(shell_vars(r.stdout))
        return r

    @property
    def session(self) -> str:
        return self.vars["__kctx_session"]

    @property
    def kubeconfig(self) -> str:
        return self.vars["KUBECONFIG"]

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, **{k: self.vars[k] for k in EXPORTED if k in self.vars}}
        env.update(extra)
        return env

    def run(self, *argv: str, input: str | None = None, timeout: float = 60,
            **extra: str) -> subprocess.CompletedProcess:
        """A client started from this shell (its KUBECONFIG), as a script would run it."""
        return subprocess.run(list(argv), env=self.env(**extra), input=input, capture_output=True, text=True,
                              timeout=timeout, check=False, stdin=None if input is not None else subprocess.DEVNULL)

    def k(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        """`k ARGS` from this shell, without a terminal (start_new_session: no /dev/tty)."""
        env = self.env(**extra)
        if self.kubectl:
            env.setdefault("KCTX_KUBECTL", self.kubectl)
        return subprocess.run([str(VENV_BIN / "k"), *args], env=env, capture_output=True, text=True, timeout=60,
                              check=False, stdin=subprocess.DEVNULL, start_new_session=True)

    def exit(self) -> None:
        """The shell exits: its trap removes the session files, then the process is gone."""
        from kctx import session

        if "__kctx_session" in self.vars:
            session.remove(self.session)
        self.proc.kill()
        self.proc.wait()


def guard_state(s: str) -> dict[str, Any] | None:
    from kctx.apiguard import state

    return state.read_state(s)


def guard_pids() -> list[int]:
    """Every guard process of this test's runtime folder still running (and its kubectl proxies)."""
    from kctx import paths

    marker = "kctx.apiguard.server"
    out = []
    run = paths.runtime_dir()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [c.decode("utf-8", "replace") for c in cmd]
        if any(marker in c for c in text) and any(c.startswith(run) for c in text):
            out.append(int(name))
    return out


def wait_for(predicate: Any, timeout: float = 10.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def status_of(output: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(output)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("kind") == "Status" else None


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT (header.payload.signature, base64url): kubectl's oidc auth-provider reads
    only its `exp` to decide on a refresh; the API server (here the fake) checks the token."""
    import base64

    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeIssuer:
    """An OpenID provider on https://127.0.0.1:PORT (the tests' CA): its discovery document and
    a token endpoint that trades `refresh_token` for a new id-token (recorded in `refreshes`)."""

    def __init__(self, refresh_token: str, id_token: str, new_refresh_token: str) -> None:
        from fakeapi import BaseHandler, Served, TLSHTTPServer, session_ca

        issuer = self
        self.refresh_token, self.id_token, self.new_refresh_token = refresh_token, id_token, new_refresh_token
        self.refreshes: list[dict[str, list[str]]] = []

        class Handler(BaseHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    url = issuer.served.url
                    self.respond(200, json.dumps({
                        "issuer": url, "token_endpoint": f"{url}/token", "authorization_endpoint": f"{url}/auth",
                        "jwks_uri": f"{url}/keys", "response_types_supported": ["id_token"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"]}).encode())
                else:
                    self.respond(404, b"{}")

            def do_POST(self) -> None:
                from urllib.parse import parse_qs

                form = parse_qs(self.read_body().decode())
                issuer.refreshes.append(form)
                if self.path != "/token" or form.get("refresh_token") != [issuer.refresh_token]:
                    self.respond(400, b'{"error": "invalid_grant"}')
                    return
                self.respond(200, json.dumps({
                    "access_token": "access-1", "token_type": "Bearer", "expires_in": 3600,
                    "refresh_token": issuer.new_refresh_token, "id_token": issuer.id_token}).encode())

        class Server(Served):
            thread_name = "fake-issuer"

            def _make_server(self) -> TLSHTTPServer:
                return TLSHTTPServer(Handler, session_ca().server_context)

        self.served = Server()

    def __enter__(self) -> Self:
        self.served.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.served.stop()

    @property
    def url(self) -> str:
        return self.served.url
