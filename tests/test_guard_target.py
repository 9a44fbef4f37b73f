"""Which cluster `k` protects: resolved the way the real kubectl resolves it, checked by what
recording fake API servers receive. `k` runs without a terminal here (a new session), so a
protected change is refused unless KCTX_CONFIRM or an unlock allows it."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from fakeapi import write_kubeconfig
from guard_support import Guarded, guarded_fixture  # noqa: F401 - the fixture

from kctx.errors import GUARD_REFUSED

MANIFEST = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "from-stdin"}, "data": {"marker": "piped-manifest"}})


def refused(proc) -> bool:  # type: ignore[no-untyped-def]
    return proc.returncode == GUARD_REFUSED and "k: refused" in proc.stderr


def test_reads_pass_on_a_protected_entry(guarded: Guarded) -> None:
    proc = guarded.k("get", "pods")
    assert proc.returncode == 0, proc.stderr
    assert any(r.method == "GET" and "/pods" in r.path for r in guarded.servers["prod"].requests)
    assert guarded.audit() == []  # reads are not decisions


def test_a_change_to_prod_without_a_terminal_is_refused(guarded: Guarded) -> None:
    proc = guarded.k("delete", "pod", "web-1")
    assert refused(proc), proc
    assert "KCTX_CONFIRM=prod k delete pod web-1" in proc.stderr
    assert guarded.all_writes() == {}
    assert not guarded.servers["prod"].requests  # kubectl never ran


def test_a_change_to_an_unprotected_entry_runs(guarded: Guarded) -> None:
    proc = guarded.k("delete", "pod", "web-1", entry="dev")
    assert proc.returncode == 0, proc.stderr
    assert guarded.writes("dev") == ["DELETE /api/v1/namespaces/web/pods/web-1"]
    assert guarded.audit() == []


@pytest.mark.parametrize("flags", [["--context=prod"], ["--context", "prod"], ["delete", "--context", "prod"]])
def test_context_flag_both_spellings(guarded: Guarded, flags: list[str]) -> None:
    args = flags + ["pod", "web-1"] if flags[0] == "delete" else flags + ["delete", "pod", "web-1"]
    env = {"KUBECONFIG": str(guarded.kubeconfig)}  # current context: dev
    assert refused(guarded.k(*args, entry=None, env=env))
    assert guarded.all_writes() == {}
    ok = guarded.k(*args, entry=None, env={**env, "KCTX_CONFIRM": "prod"})
    assert ok.returncode == 0, ok.stderr
    assert guarded.all_writes() == {"prod": ["DELETE /api/v1/namespaces/payments/pods/web-1"]}


def test_another_kubeconfig_reaching_prod_by_another_name(guarded: Guarded, tmp_path: Path) -> None:
    other = tmp_path / "old" / "config"
    url = guarded.servers["prod"].url.replace("127.0.0.1", "127.0.0.1") + "/"  # same server, trailing /
    write_kubeconfig(other, [{"name": "admin@prod", "server": url, "cluster": "legacy", "user": "admin"},
                             {"name": "sandbox", "server": guarded.servers["dev"]}], current="sandbox")
    args = ["--kubeconfig", str(other), "--context", "admin@prod", "delete", "pod", "web-1"]
    proc = guarded.k(*args, entry="dev")
    assert refused(proc)
    assert "protected entry prod" in proc.stderr and "KCTX_CONFIRM=prod " in proc.stderr
    assert refused(guarded.k(*args, entry="dev", env={"KCTX_CONFIRM": "admin@prod"}))
    assert guarded.all_writes() == {}
    ok = guarded.k(*args, entry="dev", env={"KCTX_CONFIRM": "prod"})
    assert ok.returncode == 0, ok.stderr
    assert guarded.all_writes() == {"prod": ["DELETE /api/v1/namespaces/default/pods/web-1"]}
    # The same file's other context is not protected.
    guarded.clear()
    free = guarded.k("--kubeconfig", str(other), "delete", "pod", "web-1", entry="prod")
    assert free.returncode == 0, free.stderr
    assert guarded.all_writes() == {"dev": ["DELETE /api/v1/namespaces/default/pods/web-1"]}


def test_server_flag(guarded: Guarded) -> None:
    prod_url = guarded.servers["prod"].url
    # Upper case host and an explicit path slash: still prod's server.
    for spelling in (prod_url, prod_url.replace("https://", "HTTPS://") + "/"):
        proc = guarded.k("-s", spelling, "delete", "pod", "x", entry="dev")
        assert refused(proc), (spelling, proc)
    ok = guarded.k("--server", prod_url, "delete", "pod", "x", entry="dev", env={"KCTX_CONFIRM": "prod"})
    assert ok.returncode == 0, ok.stderr
    assert guarded.all_writes() == {"prod": ["DELETE /api/v1/namespaces/web/pods/x"]}
    guarded.clear()
    # A server that is no entry's could be prod under another address: refused.
    unknown = guarded.k("-s", "https://127.0.0.1:9", "delete", "pod", "x", entry="dev")
    assert refused(unknown) and "no kctx entry's server" in unknown.stderr
    # Protection follows the cluster: prod's context aimed at dev's server is dev.
    moved = guarded.k("--context", "prod", "-s", guarded.servers["dev"].url, "delete", "pod", "x",
                      entry=None, env={"KUBECONFIG": str(guarded.kubeconfig)})
    assert moved.returncode == 0, moved.stderr
    assert guarded.all_writes() == {"dev": ["DELETE /api/v1/namespaces/payments/pods/x"]}


def test_namespace_rules(guarded: Guarded) -> None:
    assert refused(guarded.k("-n", "prod-payments", "delete", "pod", "x", entry="shared"))
    assert refused(guarded.k("delete", "pod", "x", "--namespace=prod-payments", entry="shared"))
    assert refused(guarded.k("delete", "namespace", "prod-payments", entry="shared"))
    assert refused(guarded.k("delete", "pods", "--all", "-A", entry="shared"))
    assert refused(guarded.k("apply", "-f", "-", entry="shared", input=MANIFEST))  # may name any namespace
    assert guarded.all_writes() == {}
    ok = guarded.k("-n", "dev-x", "delete", "pod", "x", entry="shared")
    assert ok.returncode == 0, ok.stderr
    ok = guarded.k("delete", "pod", "y", entry="shared")  # the session's namespace: dev-x
    assert ok.returncode == 0, ok.stderr
    assert guarded.writes("shared") == ["DELETE /api/v1/namespaces/dev-x/pods/x",
                                        "DELETE /api/v1/namespaces/dev-x/pods/y"]
    proc = guarded.k("-n", "prod-payments", "delete", "pod", "x", entry="shared",
                     env={"KCTX_CONFIRM": "shared"})
    assert proc.returncode == 0, proc.stderr
    rec = guarded.audit()[-1]
    assert rec["outcome"] == "confirmed-by-env" and rec["tier"] == "prod" and rec["namespace"] == "prod-payments"


def test_unreadable_kubeconfig_fails_closed(guarded: Guarded, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_text("clusters: [\n")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for env in ({"KUBECONFIG": str(broken)}, {"KUBECONFIG": f"{folder}{os.pathsep}{guarded.entry_file('dev')}"}):
        proc = guarded.k("delete", "pod", "x", entry=None, env=env)
        assert refused(proc) and "cannot tell the target" in proc.stderr, proc
    proc = guarded.k("--kubeconfig", str(tmp_path / "missing"), "delete", "pod", "x", entry="dev")
    assert refused(proc)
    assert guarded.all_writes() == {}
    # A read is kubectl's business: it reports the broken file itself.
    read = guarded.k("get", "pods", entry=None, env={"KUBECONFIG": str(broken)})
    assert read.returncode not in (0, 4, 5) and "k: refused" not in read.stderr


def test_missing_context_fails_closed(guarded: Guarded) -> None:
    proc = guarded.k("--context", "nope", "delete", "pod", "x", entry="dev")
    assert refused(proc) and "nope" in proc.stderr


def test_nothing_protected_in_the_store_means_nothing_to_refuse(tmp_path: Path, fake_api, kubectl_bin: str) -> None:  # type: ignore[no-untyped-def]
    from guard_support import setup_guarded

    g = setup_guarded(tmp_path, fake_api, kubectl_bin, config="")
    from kctx import store

    store.Store().set_tier("prod", "staging", ["prod", "staging", "dev", "none"])
    proc = g.k("-s", "https://127.0.0.1:9", "--request-timeout=2s", "delete", "pod", "x", entry="dev")
    assert proc.returncode not in (4, 5) and "k: refused" not in proc.stderr


def test_piped_manifest_reaches_kubectl(guarded: Guarded) -> None:
    proc = guarded.k("apply", "-f", "-", input=MANIFEST, env={"KCTX_CONFIRM": "prod"})
    assert proc.returncode == 0, proc.stderr
    sent = [r for r in guarded.servers["prod"].requests if r.method in ("POST", "PATCH", "PUT")]
    assert sent and all(b"piped-manifest" in r.body for r in sent)
    assert guarded.writes("prod")
    # Refused: kubectl never ran, so nothing was read from stdin or sent.
    guarded.clear()
    assert refused(guarded.k("apply", "-f", "-", input=MANIFEST))
    assert guarded.servers["prod"].requests == []


def test_dry_runs(guarded: Guarded) -> None:
    assert refused(guarded.k("delete", "pod", "x", "--dry-run=none"))
    assert refused(guarded.k("delete", "pod", "x", "--dry-run"))
    assert refused(guarded.k("delete", "pod", "x", "--dry-run=server", "--dry-run=none"))
    assert guarded.servers["prod"].requests == []
    ok = guarded.k("delete", "pod", "x", "--dry-run=server")
    assert ok.returncode == 0, ok.stderr
    deletes = [r for r in guarded.servers["prod"].requests if r.method == "DELETE"]
    assert len(deletes) == 1 and guarded.writes("prod") == []  # sent, as a dry run
    ok = guarded.k("apply", "-f", "-", "--dry-run=server", input=MANIFEST)
    assert ok.returncode == 0, ok.stderr
    assert guarded.writes("prod") == []


def test_confirm_naming_another_entry_is_refused(guarded: Guarded) -> None:
    proc = guarded.k("delete", "pod", "x", env={"KCTX_CONFIRM": "dev"})
    assert refused(proc) and "KCTX_CONFIRM=dev" in proc.stderr
    assert guarded.all_writes() == {}
    assert guarded.audit()[-1]["detail"] == "KCTX_CONFIRM names 'dev'"


def test_help_anywhere_is_a_read(guarded: Guarded) -> None:
    proc = guarded.k("delete", "pod", "x", "--help")
    assert proc.returncode == 0 and "Delete resources" in proc.stdout
    proc = guarded.k("create", "secret", "generic", "x", "--from-literal", "--help")
    assert refused(proc)  # --help is the literal's value here


def _unlock(path: str, entry: str, server: str, until: float) -> None:
    fd = os.open(path + ".unlock", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, json.dumps({"entry": entry, "server": server, "until": int(until)}).encode())
    os.close(fd)


def test_unlock_and_its_expiry(guarded: Guarded) -> None:
    kubeconfig = guarded.shell_kubeconfig("prod")
    session = guarded.sessions["prod"]
    server = guarded.servers["prod"].url
    env = {"KUBECONFIG": kubeconfig}
    _unlock(session, "prod", server, time.time() + 600)
    ok = guarded.k("delete", "pod", "x", entry=None, env=env)
    assert ok.returncode == 0, ok.stderr
    assert guarded.writes("prod") == ["DELETE /api/v1/namespaces/payments/pods/x"]
    assert guarded.audit()[-1]["outcome"] == "unlocked"
    # Only for that entry: the same shell sending a change to another protected target asks.
    assert refused(guarded.k("--context", "admin", "-s", server + "/x", "delete", "pod", "x", entry=None, env=env))
    guarded.clear()
    _unlock(session, "prod", server, time.time() - 1)
    assert refused(guarded.k("delete", "pod", "x", entry=None, env=env))
    _unlock(session, "dev", guarded.servers["dev"].url, time.time() + 600)
    assert refused(guarded.k("delete", "pod", "x", entry=None, env=env))
    _unlock(session, "prod", server, time.time() + 600)
    os.chmod(session + ".unlock", 0o644)  # not private: not trusted
    assert refused(guarded.k("delete", "pod", "x", entry=None, env=env))
    assert guarded.all_writes() == {}


def test_audit_records(guarded: Guarded, run_kctx) -> None:  # type: ignore[no-untyped-def]
    guarded.k("delete", "pod", "x")
    guarded.k("-n", "kube-system", "delete", "pod", "y", env={"KCTX_CONFIRM": "prod"})
    recs = guarded.audit()
    assert [r["outcome"] for r in recs] == ["refused", "confirmed-by-env"]
    first, second = recs
    assert first["entry"] == "prod" and first["tier"] == "prod" and first["detail"] == "no terminal"
    assert first["server"] == guarded.servers["prod"].url and first["namespace"] == "payments"
    assert first["argv"] == ["delete", "pod", "x"] and second["argv"][:2] == ["-n", "kube-system"]
    assert second["namespace"] == "kube-system"
    for rec in recs:
        assert {"time", "cwd", "pid", "tty", "user", "reason", "context"} <= set(rec)
    from kctx import paths

    assert stat.S_IMODE(os.stat(paths.audit_file()).st_mode) == 0o600
    table = run_kctx("audit")
    assert table.returncode == 0 and "confirmed-by-env" in table.stdout and "k -n kube-system delete pod y" in table.stdout
    as_json = json.loads(run_kctx("audit", "-o", "json").stdout)
    assert as_json == recs
    assert len(json.loads(run_kctx("audit", "-o", "json", "--last", "1").stdout)) == 1


def test_namespace_set_through_kubectl_config_counts(guarded: Guarded) -> None:
    """kubectl rewrites the session file as YAML: k still reads the namespace from it."""
    env = {"KUBECONFIG": guarded.shell_kubeconfig("shared")}
    session = guarded.sessions["shared"]
    assert guarded.k("delete", "pod", "x", entry=None, env=env).returncode == 0
    ns = guarded.k("config", "set-context", "--current", "--namespace=prod-payments", entry=None, env=env)
    assert ns.returncode == 0, ns.stderr
    assert not Path(session).read_text().lstrip().startswith("{")  # now kubectl's YAML
    assert refused(guarded.k("delete", "pod", "x", entry=None, env=env))
    assert guarded.writes("shared") == ["DELETE /api/v1/namespaces/dev-x/pods/x"]


KUBERC = """\
apiVersion: kubectl.config.k8s.io/v1beta1
kind: Preference
defaults:
- command: delete
  options:
  - name: context
    default: prod
aliases:
- name: prodkill
  command: delete
  prependArgs: [pod]
  options:
  - name: context
    default: prod
- name: getn
  command: get
  prependArgs: [namespaces]
"""


def test_kuberc_defaults_and_aliases(guarded: Guarded, tmp_path: Path) -> None:
    kuberc = tmp_path / "kuberc"
    kuberc.write_text(KUBERC)
    env = {"KUBECONFIG": str(guarded.kubeconfig), "KUBERC": str(kuberc)}  # current context: dev
    proc = guarded.k("delete", "pod", "x", entry=None, env=env)
    assert refused(proc) and "KCTX_CONFIRM=prod" in proc.stderr  # kubectl would add --context=prod
    assert refused(guarded.k("prodkill", "x", entry=None, env=env))
    assert guarded.all_writes() == {}
    read = guarded.k("getn", entry=None, env=env)  # an alias of a read: no question
    assert read.returncode == 0, read.stderr
    ok = guarded.k("delete", "pod", "x", "--context=dev", entry=None, env=env)  # given: no default
    assert ok.returncode == 0, ok.stderr
    off = guarded.k("delete", "pod", "y", entry=None, env={**env, "KUBECTL_KUBERC": "false"})
    assert off.returncode == 0, off.stderr
    assert guarded.all_writes() == {"dev": ["DELETE /api/v1/namespaces/web/pods/x",
                                            "DELETE /api/v1/namespaces/web/pods/y"]}
    confirmed = guarded.k("prodkill", "z", entry=None, env={**env, "KCTX_CONFIRM": "prod"})
    assert confirmed.returncode == 0, confirmed.stderr
    assert guarded.writes("prod") == ["DELETE /api/v1/namespaces/payments/pods/z"]
    kuberc.write_text("defaults: [\n")  # kctx cannot tell what kubectl makes of it
    assert refused(guarded.k("delete", "pod", "x", entry=None, env=env))
    read = guarded.k("get", "pods", entry=None, env=env)  # kubectl's own complaint, not k's
    assert read.returncode != GUARD_REFUSED and "preferences" in read.stderr


def test_kubernetes_master_is_the_fallback_server(guarded: Guarded, tmp_path: Path) -> None:
    empty = tmp_path / "empty-config"
    empty.write_text("apiVersion: v1\nkind: Config\n")
    env = {"KUBECONFIG": str(empty), "KUBERNETES_MASTER": guarded.servers["prod"].url}
    assert refused(guarded.k("delete", "pod", "x", entry=None, env=env))


# -- identity: the production cluster under another spelling, another address, its CA ----------


def _other(tmp_path: Path, contexts: list[dict], current: str) -> Path:  # type: ignore[type-arg]
    """Another kubeconfig, never imported (a new file each call)."""
    folder = tmp_path / "other"
    path = folder / f"config-{len(list(folder.glob('config-*'))) if folder.exists() else 0}"
    write_kubeconfig(path, contexts, current=current)
    return path


@pytest.mark.parametrize("spelling", ["https://localhost:{port}", "https://LOCALHOST:{port}/",
                                      "https://[::ffff:127.0.0.1]:{port}", "https://127.0.0.1:0{port}"])
def test_prod_under_another_spelling_is_prod(guarded: Guarded, tmp_path: Path, spelling: str) -> None:
    url = spelling.format(port=guarded.servers["prod"].port)
    other = _other(tmp_path, [{"name": "admin@prod", "server": url}], current="admin@prod")
    for args, env in ((["--kubeconfig", str(other)], {}), (["--context=admin@prod"], {"KUBECONFIG": str(other)}),
                      ([], {"HOME": str(tmp_path / "home")})):
        if not args and not env.get("KUBECONFIG"):
            (tmp_path / "home" / ".kube").mkdir(parents=True, exist_ok=True)
            (tmp_path / "home" / ".kube" / "config").write_text(other.read_text())
        proc = guarded.k(*args, "delete", "pod", "web-1", entry=None, env=env)
        assert refused(proc), (url, args, proc.stderr)
        assert "protected entry prod" in proc.stderr and "KCTX_CONFIRM=prod " in proc.stderr
    assert guarded.all_writes() == {}
    rec = guarded.audit()[-1]
    assert rec["match"]["entry"] == "prod" and rec["match"]["by"] in ("server", "address"), rec
    ok = guarded.k("--kubeconfig", str(other), "delete", "pod", "web-1", entry=None, env={"KCTX_CONFIRM": "prod"})
    assert ok.returncode == 0, ok.stderr
    assert guarded.all_writes() == {"prod": ["DELETE /api/v1/namespaces/default/pods/web-1"]}


def test_same_address_names_the_address(guarded: Guarded, tmp_path: Path) -> None:
    port = guarded.servers["prod"].port
    other = _other(tmp_path, [{"name": "lb", "server": f"https://localhost:{port}", "cluster": "legacy"}],
                   current="lb")
    proc = guarded.k("--kubeconfig", str(other), "delete", "pod", "x", entry=None)
    assert refused(proc)
    assert f"same address as the protected entry prod (127.0.0.1:{port})" in proc.stderr
    assert guarded.audit()[-1]["match"] == {"entry": "prod", "by": "address",
                                            "why": f"same address as prod (127.0.0.1:{port})"}
    # --cluster reaching that cluster from another context.
    two = _other(tmp_path, [{"name": "sandbox", "server": guarded.servers["dev"]},
                            {"name": "lb", "server": f"https://localhost:{port}", "cluster": "legacy"}],
                 current="sandbox")
    assert refused(guarded.k("--kubeconfig", str(two), "--cluster", "legacy", "delete", "pod", "x", entry=None))
    # The server flag follows the same rules: another spelling of dev's server is dev.
    dev = guarded.k("-s", f"https://localhost:{guarded.servers['dev'].port}/", "delete", "pod", "x", entry="dev")
    assert dev.returncode == 0, dev.stderr
    assert guarded.all_writes() == {"dev": ["DELETE /api/v1/namespaces/web/pods/x"]}


def test_a_cached_address_is_used_without_a_lookup(guarded: Guarded, tmp_path: Path) -> None:
    import marshal

    from kctx import paths

    # A name only the cache knows: were it looked up, it would not resolve.
    os.makedirs(paths.cache_dir(), exist_ok=True)
    Path(paths.addresses_cache_file()).write_bytes(marshal.dumps(
        {"version": 1, "hosts": {"prod-lb.example.invalid": (time.time() + 600, ("127.0.0.1",))}}))
    other = _other(tmp_path, [{"name": "lb", "server": f"https://prod-lb.example.invalid:{guarded.servers['prod'].port}",
                               "ca": "insecure"}], current="lb")
    proc = guarded.k("--kubeconfig", str(other), "delete", "pod", "x", entry=None)
    assert refused(proc) and "same address as the protected entry prod" in proc.stderr, proc.stderr


def test_another_server_trusting_prods_ca(tmp_path: Path, fake_api, kubectl_bin: str) -> None:  # type: ignore[no-untyped-def]
    """prod's second endpoint (a server of its own here, trusting prod's CA) is prod; a server
    with a CA of its own is not; a CA that prod and dev share says nothing about dev."""
    import base64

    from fakeapi import SharedCA
    from guard_support import setup_guarded

    g = setup_guarded(tmp_path, fake_api, kubectl_bin)  # prod, dev and shared trust one CA
    alt = fake_api(name="prod-alt")  # the same CA: prod's other endpoint
    lab_ca = SharedCA()
    lab = fake_api(name="lab")
    lab.stop()
    lab.ca = lab_ca
    lab.start()
    g.servers.update({"prod-alt": alt, "lab": lab})
    other = _other(tmp_path, [{"name": "alt", "server": alt}, {"name": "dev", "server": f"https://localhost:{g.servers['dev'].port}"}],
                   current="alt")
    proc = g.k("--kubeconfig", str(other), "delete", "pod", "x", entry=None)
    assert refused(proc) and "same CA as the protected entry prod (sha256 " in proc.stderr, proc.stderr
    assert g.audit()[-1]["match"]["by"] == "ca"
    # The CA as a file, and given as --certificate-authority: the same.
    from fakeapi import session_ca

    file_ca = _other(tmp_path, [{"name": "alt", "server": alt, "ca": "file"}], current="alt")
    assert refused(g.k("--kubeconfig", str(file_ca), "delete", "pod", "x", entry=None))
    insecure = _other(tmp_path, [{"name": "alt", "server": alt, "ca": "none"}], current="alt")
    assert refused(g.k("--kubeconfig", str(insecure), "--certificate-authority", session_ca().pem_path,
                       "delete", "pod", "x", entry=None))
    assert g.all_writes() == {}
    # dev under another spelling: it trusts prod's CA, but its address says it is dev.
    ok = g.k("--kubeconfig", str(other), "--context", "dev", "delete", "pod", "x", entry=None)
    assert ok.returncode == 0, ok.stderr
    # lab has a CA of its own: another cluster.
    own = tmp_path / "lab.yaml"
    own.write_text(other.read_text().replace(session_ca().pem_b64, base64.b64encode(lab_ca.pem).decode())
                   .replace(str(alt.port), str(lab.port)))
    ok = g.k("--kubeconfig", str(own), "delete", "pod", "x", entry=None)
    assert ok.returncode == 0, ok.stderr
    assert g.all_writes() == {"dev": ["DELETE /api/v1/namespaces/default/pods/x"],
                              "lab": ["DELETE /api/v1/namespaces/default/pods/x"]}
    # ... unless kubectl does not verify it: then kctx cannot tell whose server it is.
    blind = _other(tmp_path, [{"name": "lab", "server": lab, "ca": "insecure"}], current="lab")
    proc = g.k("--kubeconfig", str(blind), "delete", "pod", "y", entry=None)
    assert refused(proc) and "will not verify its certificate" in proc.stderr
    proc = g.k("--kubeconfig", str(own), "--insecure-skip-tls-verify", "delete", "pod", "y", entry=None)
    assert refused(proc) and "will not verify its certificate" in proc.stderr


def test_a_store_from_before_fingerprints_still_compares_cas(guarded: Guarded, tmp_path: Path, fake_api) -> None:  # type: ignore[no-untyped-def]
    import marshal

    from kctx import paths

    for path, load, dump in ((paths.index_file(), json.loads, lambda d: json.dumps(d).encode()),
                             (paths.hot_index_file(), marshal.loads, marshal.dumps)):
        doc = load(Path(path).read_bytes())
        for rec in doc["entries"].values():
            rec.pop("ca_sha256", None)
            rec.pop("ca_bundle", None)
            rec.pop("server_key", None)
        Path(path).write_bytes(dump(doc))
    alt = fake_api(name="prod-alt")
    other = _other(tmp_path, [{"name": "alt", "server": alt}], current="alt")
    proc = guarded.k("--kubeconfig", str(other), "delete", "pod", "x", entry=None)
    assert refused(proc) and "same CA as the protected entry prod" in proc.stderr, proc.stderr
    refreshed = marshal.loads(Path(paths.hot_index_file()).read_bytes())["entries"]["prod"]
    assert refreshed["ca_sha256"] and refreshed["server_key"] == guarded.servers["prod"].url
