"""The guard against the real kubectl: every generated command line runs once with kubectl
and once with `k` (no terminal, so a protected change is refused with exit 4), with the same
files, flags and environment, against recording fake API servers. Whenever kubectl's write
reached the production cluster, `k`'s must not have; whenever `k` let a command through, its
write went where kubectl's went. Writes to unprotected servers that `k` refused are over-asks:
counted, reported (run with -s to see the figures) and kept low.

The clusters: prod (tier prod in the store, https://127.0.0.1:PORT) with a second endpoint
prod-alt (another server trusting prod's CA: a load balancer, a public endpoint); dev (tier
dev, stored as https://localhost:PORT); lab, which the store does not know. Each cluster has
a CA of its own. The command lines reach them through kubeconfig files kctx never imported,
under every spelling of each address, and through the store's own entry files.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakeapi import FakeAPIServer, SharedCA
from guard_support import persisting

from kctx.errors import GUARD_REFUSED

VENV_BIN = Path(sys.executable).parent
SEED = 1010
COUNT = 240  # generated scenarios, on top of the hand-written ones
PROTECTED = frozenset({"prod", "prod-alt"})  # the servers of the production cluster
MAX_OVERASK = 0.25  # of the writes kubectl sent to unprotected servers


def spellings(port: int) -> list[str]:
    """Ways a kubeconfig can name https://127.0.0.1:PORT that kubectl still connects to."""
    return [
        f"https://127.0.0.1:{port}",
        f"https://localhost:{port}",
        f"https://LOCALHOST:{port}",
        f"https://LocalHost.:{port}",
        f"https://[::ffff:127.0.0.1]:{port}",
        f"https://127.0.0.1:0{port}",
        f"https://localhost:{port}/",
        f"HTTPS://127.0.0.1:{port}//",
    ]


@dataclass
class Scenario:
    """One command line: kubeconfig files (name -> document), where kubectl finds them, argv."""

    id: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    kubeconfig_env: list[str] | None = None  # KUBECONFIG, as names of files (or "entry:NAME")
    home_config: str | None = None  # the file that is ~/.kube/config
    argv: list[str] = field(default_factory=list)  # with {file:NAME} and {pod} placeholders


@dataclass
class Outcome:
    scenario: Scenario
    raw: set[str]  # servers kubectl's write reached
    k: set[str]  # servers k's write reached
    k_code: int
    k_err: str
    raw_err: str


@dataclass
class World:
    root: Path
    kubectl: str
    servers: dict[str, FakeAPIServer]
    cas: dict[str, SharedCA]
    env: dict[str, str]
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def port(self, name: str) -> int:
        return self.servers[name].port


# -- the generated command lines -------------------------------------------------------------------


class Builder:
    def __init__(self, world: World, rng: random.Random) -> None:
        self.w = world
        self.rng = rng

    def cluster(self, server: str, ca: str | None = None, spelling: str | None = None) -> dict[str, Any]:
        """A cluster body for `server` (a server name) under a random spelling of its address.

        ca: "own" (its CA inline), "file", "insecure", "prod" (prod's CA, whatever the server)."""
        ca = ca or self.rng.choice(["own", "own", "own", "file", "insecure", "prod"])
        url = spelling or self.rng.choice(spellings(self.w.port(server)))
        body: dict[str, Any] = {"server": url}
        owner = "prod" if server == "prod-alt" else server
        if ca == "own":
            body["certificate-authority-data"] = base64.b64encode(self.w.cas[owner].pem).decode()
        elif ca == "file":
            body["certificate-authority"] = self.w.cas[owner].pem_path
        elif ca == "prod":
            body["certificate-authority-data"] = base64.b64encode(self.w.cas["prod"].pem).decode()
        else:
            body["insecure-skip-tls-verify"] = True
        return body

    def doc(self, contexts: dict[str, tuple[str, dict[str, Any]]], current: str | None,
            extra_clusters: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """A kubeconfig: contexts {name: (cluster name, cluster body)}."""
        clusters: dict[str, dict[str, Any]] = dict(extra_clusters or {})
        ctxs = []
        for name, (cname, body) in contexts.items():
            clusters.setdefault(cname, body)
            ctxs.append({"name": name, "context": {"cluster": cname, "user": "admin"}})
        doc: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
            "users": [{"name": "admin", "user": {"token": "t"}}, {"name": "ops", "user": {"token": "o"}}],
            "contexts": ctxs,
        }
        if current is not None:
            doc["current-context"] = current
        return doc

    def target(self) -> str:
        return self.rng.choice(["prod", "prod", "prod", "prod-alt", "dev", "dev", "lab"])

    def extras(self) -> list[list[str]]:
        """Flags that do not change the server: --user, -n, in every spelling."""
        out: list[list[str]] = []
        if self.rng.random() < 0.4:
            user = self.rng.choice(["admin", "ops"])
            out.append(self.rng.choice([["--user", user], [f"--user={user}"]]))
        if self.rng.random() < 0.6:
            ns = self.rng.choice(["payments", "default", "get", "kube-system"])
            out.append(self.rng.choice([["-n", ns], [f"-n{ns}"], [f"-n={ns}"], ["--namespace", ns],
                                        [f"--namespace={ns}"]]))
        return out

    def flag(self, name: str, value: str, short: str | None = None) -> list[str]:
        forms = [[f"--{name}", value], [f"--{name}={value}"]]
        if short:
            forms += [[f"-{short}", value], [f"-{short}={value}"]]
        return self.rng.choice(forms)

    def argv(self, groups: list[list[str]]) -> list[str]:
        """`delete pod {pod}` with each flag group before the verb, after it, or at the end."""
        before: list[str] = []
        middle: list[str] = []
        after: list[str] = []
        for g in groups:
            self.rng.choice([before, middle, after]).extend(g)
        # --wait=false: kubectl need not watch the pod go (the write is what counts).
        self.rng.choice([before, middle, after]).append("--wait=false")
        return [*before, "delete", *middle, "pod", "{pod}", *after]

    def scenario(self, i: int) -> Scenario:
        rng = self.rng
        shape = rng.choice(["kubeconfig", "env", "env-order", "home", "context", "cluster", "server",
                            "shell", "shell-context"])
        sc = Scenario(id=f"{i:03d}-{shape}")
        groups = self.extras()
        goal = self.target()
        decoy = rng.choice([s for s in ("prod", "dev", "lab") if s != goal])
        # Context names that are, or look like, entry names.
        name, other = rng.sample(["prod", "dev", "admin@prod", "ctx", "legacy", "sandbox"], 2)
        if shape in ("kubeconfig", "env", "home"):
            sc.files["a"] = self.doc({name: ("c1", self.cluster(goal)), other: ("c2", self.cluster(decoy))},
                                     current=name)
            if shape == "kubeconfig":
                groups.append(self.flag("kubeconfig", "{file:a}"))
            elif shape == "env":
                sc.kubeconfig_env = ["a"]
            else:
                sc.home_config = "a"
        elif shape == "env-order":
            # Both files define context `name`; the first file's wins, and its current-context.
            sc.files["a"] = self.doc({name: ("c1", self.cluster(goal))}, current=rng.choice([name, None]))
            sc.files["b"] = self.doc({name: ("c1", self.cluster(decoy)), other: ("c2", self.cluster(decoy))},
                                     current=rng.choice([name, other]))
            sc.kubeconfig_env = ["a", "b"]
            if sc.files["a"].get("current-context") is None:
                groups.append(self.flag("context", name))
        elif shape == "context":
            sc.files["a"] = self.doc({name: ("c1", self.cluster(goal)), other: ("c2", self.cluster(decoy))},
                                     current=other)
            groups.append(self.flag("context", name))
            if rng.random() < 0.5:
                groups.append(self.flag("kubeconfig", "{file:a}"))
            else:
                sc.kubeconfig_env = ["a"]
        elif shape == "cluster":
            sc.files["a"] = self.doc({name: ("c1", self.cluster(decoy))}, current=name,
                                     extra_clusters={"target": self.cluster(goal)})
            groups.append(self.flag("cluster", "target"))
            groups.append(self.flag("kubeconfig", "{file:a}"))
        elif shape == "server":
            # -s keeps the context's TLS settings: kubectl reaches the server when they fit it.
            ca = rng.choice(["own", "own", "insecure"])
            owner = goal if ca == "own" else decoy
            body = self.cluster(owner, ca=ca)
            sc.files["a"] = self.doc({name: ("c1", body)}, current=name)
            sc.kubeconfig_env = ["a"]
            url = rng.choice(spellings(self.w.port(goal)))
            groups.append(self.flag("server", url, short="s"))
        elif shape == "shell":
            # A kctx shell's KUBECONFIG (the entry file first), then another file.
            entry = rng.choice(["prod", "dev"])
            sc.files["a"] = self.doc({name: ("c1", self.cluster(goal))}, current=name)
            sc.kubeconfig_env = [f"entry:{entry}", "a"]
            goal = entry  # the entry file's current context wins
        else:  # shell-context: a kctx shell, --context of another file
            entry = rng.choice(["prod", "dev"])
            ctx = name if name not in ("prod", "dev") else "ctx"
            sc.files["a"] = self.doc({ctx: ("c1", self.cluster(goal))}, current=ctx)
            sc.kubeconfig_env = [f"entry:{entry}", "a"]
            groups.append(self.flag("context", ctx))
        sc.argv = self.argv(groups)
        return sc


def handwritten(world: World) -> list[Scenario]:
    """The shapes of issue 10, spelled out."""
    b = Builder(world, random.Random(0))
    port = world.port("prod")
    out = []
    for n, url in enumerate(spellings(port)):
        doc = b.doc({"prod": ("c", b.cluster("prod", ca="own", spelling=url))}, current="prod")
        out.append(Scenario(id=f"issue-env-context-{n}", files={"other": doc}, kubeconfig_env=["other"],
                            argv=["--context=prod", "delete", "pod", "{pod}", "--wait=false"]))
        out.append(Scenario(id=f"issue-kubeconfig-{n}", files={"other": doc},
                            argv=["--kubeconfig", "{file:other}", "delete", "--wait=false", "pod", "{pod}"]))
        out.append(Scenario(id=f"issue-home-{n}", files={"config": doc}, home_config="config",
                            argv=["--wait=false", "delete", "pod", "{pod}"]))
        doc2 = b.doc({"x": ("c", b.cluster("dev", ca="own"))}, current="x",
                     extra_clusters={"p": b.cluster("prod", ca="insecure", spelling=url)})
        out.append(Scenario(id=f"issue-cluster-{n}", files={"other": doc2},
                            argv=["--kubeconfig", "{file:other}", "--cluster", "p", "delete", "pod", "{pod}",
                                  "--wait=false"]))
        alt = b.doc({"lb": ("c", b.cluster("prod-alt", ca="own"))}, current="lb")
        out.append(Scenario(id=f"issue-second-endpoint-{n}", files={"other": alt},
                            argv=["delete", "pod", "{pod}", "--kubeconfig={file:other}", "--wait=false"]))
    return out


# -- running them -----------------------------------------------------------------------------------


def _kubeconfig_env(world: World, sc: Scenario, folder: Path) -> str:
    items = []
    for name in sc.kubeconfig_env or []:
        if name.startswith("entry:"):
            items.append(str(world.root / "kctx-home" / "data" / "entries" / f"{name[6:]}.yaml"))
        else:
            items.append(str(folder / name))
    return os.pathsep.join(items)


def run_scenario(world: World, sc: Scenario) -> Outcome:
    folder = world.root / "scenarios" / sc.id
    home = folder / "home"
    (home / ".kube").mkdir(parents=True)
    for name, doc in sc.files.items():
        path = home / ".kube" / "config" if name == sc.home_config else folder / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        path.chmod(0o600)
    if sc.home_config and sc.home_config not in sc.files:
        raise AssertionError(sc)
    env = dict(world.env, HOME=str(home))
    if sc.kubeconfig_env:
        env["KUBECONFIG"] = _kubeconfig_env(world, sc, folder)

    def argv(pod: str) -> list[str]:
        out = []
        for word in sc.argv:
            for name in sc.files:
                word = word.replace(f"{{file:{name}}}", str(home / ".kube" / "config" if name == sc.home_config
                                                           else folder / name))
            out.append(word.replace("{pod}", pod))
        return out

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, env=env, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120, start_new_session=True, check=False)

    raw_pod, k_pod = f"raw-{sc.id}", f"k-{sc.id}"
    raw = run([world.kubectl, *argv(raw_pod)])
    k = run([str(VENV_BIN / "k"), *argv(k_pod)])
    return Outcome(sc, reached(world, raw_pod), reached(world, k_pod), k.returncode, k.stderr, raw.stderr)


def reached(world: World, pod: str) -> set[str]:
    return {name for name, server in world.servers.items()
            if any(persisting(r) and r.path.endswith(f"/pods/{pod}") for r in server.requests)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, kubectl_bin: str) -> Iterator[World]:
    root = tmp_path_factory.mktemp("differential")
    cas = {name: SharedCA() for name in ("prod", "dev", "lab")}
    servers: dict[str, FakeAPIServer] = {}
    for name in ("prod", "prod-alt", "dev", "lab"):
        server = FakeAPIServer(name=name)
        server.ca = cas["prod" if name == "prod-alt" else name]
        servers[name] = server.start()
    path = [str(VENV_BIN)] + [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != VENV_BIN]
    env = {
        "PATH": os.pathsep.join(path), "LANG": "C.UTF-8", "NO_COLOR": "1", "EDITOR": "true",
        "KCTX_HOME": str(root / "kctx-home"), "KCTX_KUBECTL": kubectl_bin,
        "KUBECACHEDIR": str(root / "kube-cache"), "XDG_RUNTIME_DIR": str(root / "run"),
        "HOME": str(root / "home"),
    }
    (root / "run").mkdir(mode=0o700)
    (root / "home").mkdir()
    w = World(root, kubectl_bin, servers, cas, env)
    try:
        # The store: prod under its IP, dev under a name.
        b = Builder(w, random.Random(0))
        source = root / "source.yaml"
        source.write_text(yaml.safe_dump(b.doc({
            "prod": ("prod", b.cluster("prod", ca="own", spelling=servers["prod"].url)),
            "dev": ("dev", b.cluster("dev", ca="own", spelling=f"https://localhost:{servers['dev'].port}")),
        }, current="dev")))
        for args in (["import", str(source)], ["tier", "prod", "prod"], ["tier", "dev", "dev"]):
            done = subprocess.run([str(VENV_BIN / "kctx"), *args], env=env, capture_output=True, text=True,
                                  check=False)
            assert done.returncode == 0, done.stderr
        rng = random.Random(SEED)
        scenarios = handwritten(w) + [Builder(w, rng).scenario(i) for i in range(COUNT)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            for outcome in pool.map(lambda sc: run_scenario(w, sc), scenarios):
                w.outcomes[outcome.scenario.id] = outcome
        yield w
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(root / "scenarios", ignore_errors=True)


def describe(o: Outcome) -> str:
    sc = o.scenario
    files = json.dumps(sc.files, indent=1)
    return (f"{sc.id}: argv {sc.argv} KUBECONFIG={sc.kubeconfig_env} home={sc.home_config}\n"
            f"kubectl wrote to {sorted(o.raw) or 'nothing'} ({o.raw_err.strip()[-300:]})\n"
            f"k exited {o.k_code}, wrote to {sorted(o.k) or 'nothing'} ({o.k_err.strip()[-300:]})\n{files}")


def test_no_write_reaches_production_through_k(world: World) -> None:
    escapes = [o for o in world.outcomes.values() if o.raw & PROTECTED and (o.k or o.k_code != GUARD_REFUSED)]
    assert not escapes, "\n\n".join(describe(o) for o in escapes[:5])
    # The refusals say so, and name what to confirm.
    for o in world.outcomes.values():
        if o.raw & PROTECTED:
            assert "k: refused" in o.k_err and "KCTX_CONFIRM=" in o.k_err, describe(o)


def test_what_k_lets_through_goes_where_kubectl_goes(world: World) -> None:
    differ = [o for o in world.outcomes.values() if o.k_code != GUARD_REFUSED and o.k != o.raw]
    assert not differ, "\n\n".join(describe(o) for o in differ[:5])


def test_over_asks_are_few(world: World) -> None:
    outcomes = list(world.outcomes.values())
    to_prod = [o for o in outcomes if o.raw & PROTECTED]
    free = [o for o in outcomes if o.raw and not o.raw & PROTECTED]
    over = [o for o in free if o.k_code == GUARD_REFUSED]
    nowhere = [o for o in outcomes if not o.raw]
    rate = len(over) / len(free) if free else 0.0
    shapes: dict[str, int] = {}
    for o in over:
        shape = o.scenario.id.split("-", 1)[1]
        shapes[shape] = shapes.get(shape, 0) + 1
    known = [o for o in free if "lab" not in o.raw]  # servers of entries of the store
    over_known = [o for o in known if o in over]
    print(f"\ndifferential: {len(outcomes)} scenarios; kubectl wrote to production in {len(to_prod)} "
          f"(k refused all), to an unprotected server in {len(free)}, nowhere in {len(nowhere)}; "
          f"over-asks {len(over)}/{len(free)} = {rate:.1%} by shape {shapes}; "
          f"on the store's unprotected servers {len(over_known)}/{len(known)}")
    for o in over:
        print(f"  over-ask {o.scenario.id}: {o.k_err.partition('(')[2].partition('), and')[0]}")
    # Every over-ask is a server kctx does not know that kubectl named on its command line or
    # will not verify: kctx cannot tell which cluster that is. A server of the store never is.
    assert not over_known, "\n\n".join(describe(o) for o in over_known[:5])
    # Enough of each kind to mean something.
    assert len(to_prod) >= 100 and len(free) >= 60, (len(to_prod), len(free))
    assert rate <= MAX_OVERASK, "\n\n".join(describe(o) for o in over[:5])
