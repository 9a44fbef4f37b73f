"""The question on a real terminal (pexpect pty): right name, wrong name, Ctrl-C, end of input,
and the preview of what would change, with the manifest still piped to kubectl."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pexpect
import pytest
from guard_support import Guarded, K, guarded_fixture  # noqa: F401 - the fixture

from kctx.errors import GUARD_ABORTED, INTERRUPTED

MANIFEST = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "from-stdin", "namespace": "payments"},
                       "data": {"marker": "piped-manifest"}})


def spawn(g: Guarded, command: str, **env: str) -> pexpect.spawn:
    child = pexpect.spawn("/bin/sh", ["-c", command], env=g.env("prod", **env), encoding="utf-8",
                          timeout=60, dimensions=(50, 200))
    return child


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0)


def test_right_name_runs(guarded: Guarded) -> None:
    child = spawn(guarded, f"{K} delete pod web-1")
    child.expect("protected target")
    child.expect("type prod to continue")
    banner = child.before
    assert "prod" in banner and guarded.servers["prod"].url in banner and "payments" in banner
    assert "k delete pod web-1" in banner
    assert guarded.servers["prod"].requests == []  # nothing sent while asking
    child.sendline("prod")
    assert finish(child) == 0
    assert guarded.writes("prod") == ["DELETE /api/v1/namespaces/payments/pods/web-1"]
    rec = guarded.audit()[-1]
    assert rec["outcome"] == "confirmed" and rec["tty"]


@pytest.mark.parametrize("answer", ["yes", "y", "PROD", "dev", ""])
def test_anything_else_aborts(guarded: Guarded, answer: str) -> None:
    child = spawn(guarded, f"{K} delete pod web-1")
    child.expect("type prod to continue")
    child.sendline(answer)
    child.expect("aborted")
    assert finish(child) == GUARD_ABORTED
    assert guarded.servers["prod"].requests == []
    assert guarded.audit()[-1]["outcome"] == "aborted"


def test_ctrl_c_interrupts(guarded: Guarded) -> None:
    child = spawn(guarded, f"exec {K} delete pod web-1")
    child.expect("type prod to continue")
    child.sendintr()
    assert finish(child) == INTERRUPTED
    assert guarded.servers["prod"].requests == []
    assert guarded.audit()[-1]["outcome"] == "interrupted"


def test_ctrl_c_interrupts_when_sigint_was_inherited_ignored(guarded: Guarded) -> None:
    # A command started in the background by a non-interactive shell inherits SIGINT ignored.
    child = spawn(guarded, f"trap '' INT; exec {K} delete pod web-1")
    child.expect("type prod to continue")
    child.sendintr()
    assert finish(child) == INTERRUPTED
    assert guarded.servers["prod"].requests == []


def test_end_of_input_aborts(guarded: Guarded) -> None:
    child = spawn(guarded, f"{K} delete pod web-1")
    child.expect("type prod to continue")
    child.sendeof()
    assert finish(child) == GUARD_ABORTED
    assert guarded.servers["prod"].requests == []


def test_piped_manifest_is_asked_on_the_terminal_and_still_applied(guarded: Guarded, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.json"
    manifest.write_text(MANIFEST)
    child = spawn(guarded, f"cat {shlex.quote(str(manifest))} | {K} apply -f -")
    child.expect("kubectl diff")
    child.expect("type prod to continue")
    preview = child.before
    assert "piped-manifest" in preview  # the diff was computed from the piped manifest
    assert guarded.writes("prod") == []  # the preview sent dry runs only
    child.sendline("prod")
    assert finish(child) == 0
    sent = [r for r in guarded.servers["prod"].requests if r.method in ("PATCH", "POST", "PUT")
            and "All" not in r.query_all("dryRun")]
    assert sent and all(b"piped-manifest" in r.body for r in sent), [str(r) for r in sent]


def test_previews_for_delete_f_and_patch(guarded: Guarded, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.json"
    manifest.write_text(MANIFEST)
    child = spawn(guarded, f"{K} delete -f {shlex.quote(str(manifest))}")
    child.expect("server-side dry run")
    child.expect("from-stdin")
    child.expect("type prod to continue")
    child.sendline("no")
    assert finish(child) == GUARD_ABORTED
    assert guarded.writes("prod") == []

    child = spawn(guarded, f"{K} patch deploy/web -p '{{\"spec\":{{\"replicas\":7}}}}'")
    child.expect("what this patch would change")
    child.expect("replicas: 7")
    child.expect("type prod to continue")
    child.sendline("prod")
    assert finish(child) == 0
    assert guarded.writes("prod") == ["PATCH /apis/apps/v1/namespaces/payments/deployments/web?fieldManager=kubectl-patch"]


def test_no_preview_when_configured_off(tmp_path: Path, fake_api, kubectl_bin: str) -> None:  # type: ignore[no-untyped-def]
    from guard_support import setup_guarded

    g = setup_guarded(tmp_path, fake_api, kubectl_bin, config="guard:\n  diff: false\n")
    child = spawn(g, f"{K} patch deploy/web -p '{{}}'")
    child.expect("type prod to continue")
    assert "what this patch would change" not in child.before
    child.sendline("")
    assert finish(child) == GUARD_ABORTED
    assert g.servers["prod"].requests == []


def test_the_banner_names_the_protected_entry_matched_and_why(guarded: Guarded, tmp_path: Path) -> None:
    from fakeapi import write_kubeconfig

    port = guarded.servers["prod"].port
    other = tmp_path / "old-config"
    write_kubeconfig(other, [{"name": "admin@legacy", "server": f"https://LocalHost:{port}"}])
    child = spawn(guarded, f"{K} --kubeconfig {shlex.quote(str(other))} delete pod web-1")
    child.expect("type prod to continue")
    banner = child.before
    assert f"matched    same address as prod (127.0.0.1:{port})" in banner, banner
    assert "reached through context admin@legacy" in banner
    child.sendline("prod")
    assert finish(child) == 0
    assert guarded.writes("prod") == ["DELETE /api/v1/namespaces/default/pods/web-1"]
    rec = guarded.audit()[-1]
    assert rec["outcome"] == "confirmed" and rec["match"]["by"] == "address" and rec["match"]["entry"] == "prod"
