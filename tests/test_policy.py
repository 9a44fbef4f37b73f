"""Team policy files (kctx.policy): rules of every key, a policy that only ever protects more, a
broken file that fails closed, `k` refusing a write that only the policy protects (recorded by
a fake API server), and a policy edited while shells are open."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import cloud_kubeconfigs as cloud
import pytest
from fakeapi import session_ca, write_kubeconfig
from guard_support import writes
from pty_shell import PtyShell, strip_ansi

from kctx import paths, policy
from kctx.errors import GUARD_REFUSED

K = str(Path(sys.executable).parent / "k")
ACCOUNT = "123456789012"


def ca_sha256() -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(session_ca().pem.decode())).hexdigest()


def write_policy(path: Path, text: str) -> Path:
    """Write a policy file so that its stat changes even within one clock tick."""
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    st = path.stat()
    if st.st_mtime_ns <= old:
        os.utime(path, ns=(st.st_atime_ns, old + 1_000_000))
    return path


def listing(run_kctx, env: dict[str, str]) -> dict[str, dict]:
    r = run_kctx("list", "-o", "json", env=env)
    assert r.returncode == 0, r.stderr
    return {e["name"]: e for e in json.loads(r.stdout)}


# -- the file format ------------------------------------------------------------------------------
@pytest.mark.parametrize("text,message", [
    ("rules: [\n", ":2: not valid YAML"),
    ("- tier: prod\n", ":1: expected a mapping with 'rules'"),
    ("rulez: []\n", ":1: unknown key 'rulez'"),
    ("rules: {tier: prod}\n", ":1: 'rules' must be a list"),
    ("rules:\n  - tier: prod\n    match: {eks_acount: '1'}\n", ":3: rule 1: unknown match key 'eks_acount'"),
    ("rules:\n  - tier: prod\n", ":2: rule 1: no 'match'"),
    ("rules:\n  - match: {entry: x}\n", ":2: rule 1: no 'tier'"),
    ("rules:\n  - tier: prod\n    match: {}\n", ":3: rule 1: 'match' must map at least one"),
    ("rules:\n  - tier: prod\n    match: {entry: x}\n  - tier: prod\n    match: {ca_sha256: abc}\n",
     ":5: rule 2: match.ca_sha256 must be 64 hex digits"),
    ("rules:\n  - tier: prod\n    match: {entry: [a, b]}\n", ":3: rule 1: match.entry must be a string"),
    ("rules:\n  - tier: prod\n    match: {entry: x}\n    note: y\n", ":4: rule 1: unknown key 'note'"),
])
def test_a_bad_policy_file_is_one_line_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "team.yaml"
    path.write_text(text)
    with pytest.raises(policy.PolicyError) as e:
        policy.parse(str(path))
    assert str(e.value).startswith(f"{path}{message}"), str(e.value)
    assert "\n" not in str(e.value)


def test_values_are_normalised():
    import yaml

    def fail(node, what):
        raise AssertionError(what)

    node = yaml.compose("{eks_account: 012345678912, ca_sha256: '" + "AB:" * 31 + "AB'}")
    assert dict(policy._match(node, "rule 1", fail)) == {"eks_account": "012345678912", "ca_sha256": "ab" * 32}
    node = yaml.compose("{eks_account: 12345678912}")  # an unquoted id that lost its leading 0
    assert dict(policy._match(node, "rule 1", fail)) == {"eks_account": "012345678912"}


# -- rules of every key ---------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path, run_kctx):
    d = tmp_path / "downloads"
    files = [
        cloud.eks(d / "eks.yaml", [("eu-west-1", ACCOUNT, "shop", "https://A.gr7.eu-west-1.eks.amazonaws.com"),
                                   ("us-east-1", "999999999999", "blog", "https://B.gr7.us-east-1.eks.amazonaws.com")]),
        cloud.gke(d / "gke.yaml", [("acme-live-data", "europe-west1", "warehouse", "https://34.1.2.3"),
                                   ("acme-tools", "europe-west1", "ci", "https://34.1.2.4")]),
        cloud.openshift(d / "oc.yaml", "payments", "developer", "https://api.ocp-a.corp.example:6443"),
        cloud.kind(d / "kind.yaml", "scratch", "https://127.0.0.1:39277"),
    ]
    r = run_kctx("import", *map(str, files))
    assert r.returncode == 0, r.stderr
    return tmp_path


RULES = f"""\
rules:
  - tier: prod          # 1
    match: {{eks_account: "{ACCOUNT}"}}
  - tier: staging       # 2: both keys must hold
    match: {{eks_region: us-east-1, entry: "b*"}}
  - tier: prod          # 3
    match: {{gke_project: acme-live-data}}
  - tier: prod          # 4
    match: {{server: "https://api.ocp-*.corp.example*"}}
  - tier: staging       # 5: never reached for ocp-a, rule 4 came first
    match: {{context: "payments/*"}}
  - tier: dev           # 6
    match: {{context: "gke_*_ci"}}
"""


def test_rules_of_every_key(store, run_kctx):
    team = write_policy(store / "team.yaml", RULES)
    got = listing(run_kctx, {"KCTX_POLICY": str(team)})
    tiers = {n: (e["tier"], e["tier_source"].get("rule")) for n, e in got.items()}
    assert tiers == {
        "shop": ("prod", 1), "blog": ("staging", 2), "warehouse": ("prod", 3), "ocp-a": ("prod", 4),
        "ci": ("dev", 6), "kind-scratch": ("dev", None),
    }
    assert got["shop"]["protected"] is True and got["blog"]["protected"] is False
    assert got["shop"]["tier_source"] == {"by": "policy", "file": str(team), "rule": 1,
                                          "personal": {"tier": "none", "by": "default"}}
    show = run_kctx("show", "shop", env={"KCTX_POLICY": str(team)}).stdout
    assert f"tier from:        policy {team} rule 1 (your tier: none, no word" in show
    # "live" in the project already made warehouse prod; the policy agrees
    assert got["warehouse"]["tier_source"]["personal"]["word"] == "live"
    # the `ca_sha256` key: the SHA-256 of the cluster CA's DER
    ca = write_policy(store / "ca.yaml", f"rules:\n  - tier: prod\n    match: {{ca_sha256: '{ca_sha256()}'}}\n")
    assert {e["tier"] for e in listing(run_kctx, {"KCTX_POLICY": str(ca)}).values()} == {"prod"}
    # without a policy the personal tiers are back
    assert listing(run_kctx, {})["shop"]["tier"] == "none"


def test_policy_from_the_config_file(store, run_kctx):
    (store / "team").mkdir()
    write_policy(store / "team" / "policy.yaml", RULES)
    config = store / "config.yaml"
    config.write_text("policy: [team/policy.yaml]\n")  # relative to the config file's folder
    assert listing(run_kctx, {"KCTX_CONFIG": str(config)})["shop"]["tier"] == "prod"


def test_a_personal_tier_cannot_lower_what_the_policy_protects(store, run_kctx):
    team = write_policy(store / "team.yaml", RULES)
    env = {"KCTX_POLICY": str(team)}
    r = run_kctx("tier", "shop", "none", env=env)
    assert r.returncode == 0
    assert "the team policy keeps it at tier prod" in r.stderr
    assert run_kctx("tier", "shop", env=env).stdout == "prod\n"
    got = listing(run_kctx, env)["shop"]
    assert got["tier"] == "prod" and got["tier_source"]["personal"] == {"tier": "none", "by": "kctx tier"}
    # ...but a policy does not lower a personal protection either
    run_kctx("tier", "ci", "prod", check=True)
    assert listing(run_kctx, env)["ci"]["tier"] == "prod"
    assert listing(run_kctx, env)["ci"]["tier_source"] == {"by": "kctx tier"}


# -- the guard ------------------------------------------------------------------------------------
@pytest.fixture
def two_servers(tmp_path, fake_api, kubectl_bin, run_kctx):
    """payments (the shared test CA) and web (no CA: insecure), both tier none."""
    servers = {"payments": fake_api(name="payments"), "web": fake_api(name="web")}
    kc = tmp_path / "kubeconfigs" / "config"
    write_kubeconfig(kc, [{"name": "payments", "server": servers["payments"], "namespace": "pay"},
                          {"name": "web", "server": servers["web"], "ca": "insecure"}])
    run_kctx("import", str(kc), check=True)
    return servers


def k(*args: str, entry: str, env: dict[str, str], kubectl: str) -> subprocess.CompletedProcess:
    """`k` with no terminal (a new session), in a shell-like session for `entry`."""
    from kctx import session

    rec = session.entry_record(entry)
    path = session.new_path(os.getpid())
    session.write(path, session.render(entry, rec["cluster"], rec["user"], rec.get("namespace")))
    full = {**os.environ, "KCTX_KUBECTL": kubectl, "NO_COLOR": "1",
            "KUBECONFIG": f"{path}:{paths.entry_file(entry)}", **env}
    return subprocess.run([K, *args], env=full, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, start_new_session=True, check=False)


def test_k_refuses_a_write_only_the_ca_rule_protects(tmp_path, two_servers, kubectl_bin, run_kctx):
    team = write_policy(tmp_path / "team.yaml",
                        f"rules:\n  - tier: prod\n    match: {{ca_sha256: '{ca_sha256()}'}}\n")
    env = {"KCTX_POLICY": str(team)}
    assert {e["tier"] for e in listing(run_kctx, {}).values()} == {"none"}  # nothing personal protects it
    r = k("delete", "pod", "web-1", entry="payments", env=env, kubectl=kubectl_bin)
    assert r.returncode == GUARD_REFUSED, r.stderr
    assert f"policy {team} rule 1" in r.stderr
    assert writes(two_servers["payments"]) == [] and not two_servers["payments"].requests
    # the same write on the entry the rule does not match runs
    ok = k("delete", "pod", "web-1", entry="web", env=env, kubectl=kubectl_bin)
    assert ok.returncode == 0, ok.stderr
    assert writes(two_servers["web"]) == ["DELETE /api/v1/namespaces/default/pods/web-1"]
    # and without the policy the first one runs too
    ok = k("delete", "pod", "web-1", entry="payments", env={}, kubectl=kubectl_bin)
    assert ok.returncode == 0, ok.stderr


def test_a_kubeconfig_never_imported_is_caught_by_a_server_rule(tmp_path, fake_api, kubectl_bin):
    api = fake_api(name="elsewhere")
    other = tmp_path / "other.yaml"
    write_kubeconfig(other, [{"name": "admin@elsewhere", "server": api}])
    team = write_policy(tmp_path / "team.yaml",
                        f"rules:\n  - tier: prod\n    match: {{server: 'https://127.0.0.1:{api.port}*'}}\n")
    env = {**os.environ, "KCTX_KUBECTL": kubectl_bin, "KCTX_POLICY": str(team), "KUBECONFIG": str(other)}
    r = subprocess.run([K, "delete", "pod", "x"], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60, start_new_session=True, check=False)
    assert r.returncode == GUARD_REFUSED, r.stderr
    assert "rule 1 makes its server tier prod" in r.stderr
    assert writes(api) == []


def test_a_broken_policy_fails_closed(tmp_path, two_servers, kubectl_bin, run_kctx):
    team = write_policy(tmp_path / "team.yaml", "rules:\n  - tier: prod\n    match: {entry: payments}\n")
    env = {"KCTX_POLICY": str(team)}
    assert listing(run_kctx, env)["payments"]["tier"] == "prod"
    write_policy(team, "rules:\n  - tier: prod\n    match: {entry: payments\n")  # a bad edit
    r = run_kctx("list", "-o", "json", env=env)
    assert r.returncode == 0
    warning = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and f"{team}:4: not valid YAML" in warning[0], r.stderr
    assert "last good rules stay in force" in warning[0]
    assert {e["name"]: e["tier"] for e in json.loads(r.stdout)}["payments"] == "prod"
    refused = k("delete", "pod", "x", entry="payments", env=env, kubectl=kubectl_bin)
    assert refused.returncode == GUARD_REFUSED and f"{team}:4" in refused.stderr
    assert writes(two_servers["payments"]) == []
    # an unreadable or vanished file too
    team.unlink()
    assert listing(run_kctx, env)["payments"]["tier"] == "prod"
    # fixed: the new rules count
    write_policy(team, "rules:\n  - tier: prod\n    match: {entry: web}\n")
    r = run_kctx("list", "-o", "json", env=env)
    assert "warning" not in r.stderr
    assert {e["name"]: e["tier"] for e in json.loads(r.stdout)} == {"payments": "none", "web": "prod"}


# -- shells that are open when the policy changes ----------------------------------------------------
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_a_policy_edited_while_shells_are_open(tmp_path, two_servers, kubectl_bin, shell):
    team = write_policy(tmp_path / "team.yaml", "rules: []\n")
    env = {**os.environ, "KCTX_POLICY": str(team), "KCTX_KUBECTL": kubectl_bin}
    status = "$status" if shell == "fish" else "$?"
    with PtyShell(shell, env=env) as a, PtyShell(shell, env=env) as b:
        a.run("kctx use payments")
        b.run("kctx use web")
        assert a.var("KCTX_TIER") == "none" and b.var("KCTX_TIER") == "none"
        assert "\x1b[1;31m" not in a.run("true").prompt
        time.sleep(0.05)
        write_policy(team, "rules:\n  - tier: prod\n    match: {entry: payments}\n")  # a git pull
        r = a.run("true")  # the next prompt
        assert "\x1b[1;31m" in r.prompt and "⎈ payments:pay" in strip_ansi(r.prompt)
        assert a.var("KCTX_TIER") == "prod"
        assert b.var("KCTX_TIER") == "none"
        refused = a.run(f"KCTX_CONFIRM=nobody k delete pod x; echo rc={status}")
        assert f"rc={GUARD_REFUSED}" in refused.output
        assert writes(two_servers["payments"]) == []
        # the prompt forks only when a policy file changed: the stamp is newer now
        stamp = Path(a.var("__kctx_session") + paths.TIERS_STAMP)
        before = stamp.stat().st_mtime_ns
        a.run("true")
        assert stamp.stat().st_mtime_ns == before
        # a broken edit: one warning at the next prompt, the last good rules stay
        time.sleep(0.05)
        write_policy(team, "rules:\n  - tier: prod\n    match: [\n")
        r = b.run("true")  # the hook's refresh says so once, before the next prompt
        assert f"{team}:4: not valid YAML" in r.output and "last good rules stay in force" in r.output
        assert "warning" not in b.run("true").output
        assert a.var("KCTX_TIER") == "prod"  # what it protected stays protected
        assert b.var("KCTX_TIER") == "none"


@pytest.mark.parametrize("shell", ["zsh", "fish", "nu"])
def test_a_policy_edited_while_a_shell_is_open_in_every_shell(shell, tmp_path, two_servers, kubectl_bin):
    """The same watch in the other shells' hooks (bash: the test above)."""
    team = write_policy(tmp_path / "team.yaml", "rules: []\n")
    env = {**os.environ, "KCTX_POLICY": str(team), "KCTX_KUBECTL": kubectl_bin}
    with PtyShell(shell, env=env) as sh:
        sh.run("kctx use payments")
        assert sh.var("KCTX_TIER") == "none"
        time.sleep(0.05)
        write_policy(team, "rules:\n  - tier: prod\n    match: {entry: payments}\n")
        r = sh.run("kctx current")  # the next prompt
        assert "\x1b[1;31m" in r.prompt and strip_ansi(r.prompt).startswith("⎈ payments:pay")
        assert sh.var("KCTX_TIER") == "prod"
        stamp = Path(sh.var("__kctx_session") + paths.TIERS_STAMP)
        before = stamp.stat().st_mtime_ns
        sh.run("kctx current")
        assert stamp.stat().st_mtime_ns == before
