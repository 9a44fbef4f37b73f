"""How `k` reads a kubectl command line, and which commands it counts as changes.

Unit tests of kctx.guard.args and kctx.guard.verbs; the same cases run through the real kubectl
in test_guard_target.py and test_guard_corpus.py.
"""

from __future__ import annotations

import shlex

import pytest

from kctx.guard.args import kind, parse, parse_bool
from kctx.guard.verbs import READ, WRITE, classify, scope


def cls(line: str, **guard: object) -> str:
    return classify(parse(shlex.split(line)), guard or None)[0]


@pytest.mark.parametrize("line", [
    "get pods",
    "-n kube-system get pods",
    "get pods -n kube-system -o yaml",
    "describe pod web-1",
    "logs -f web-1",
    "logs -p web-1 -c app",
    "top pod",
    "top node --sort-by=cpu",
    "explain pods.spec",
    "events -A",
    "wait --for=condition=Ready pod/web-1",
    "diff -f deploy.yaml",
    "api-resources",
    "api-versions",
    "cluster-info",
    "cluster-info dump --output-directory=/tmp/x",
    "version",
    "auth can-i delete pods",
    "auth whoami",
    "rollout status deploy/web",
    "rollout history deploy/web",
    "kustomize .",
    "completion bash",
    "config view",
    "config use-context prod",
    "config set-context --current --namespace=x",
    "kuberc view",
    "plugin list",
    "options",
    "help delete",
    "apply view-last-applied deploy/web",
    "delete pod web-1 --dry-run=server",
    "delete pod web-1 --dry-run=client",
    "delete pod web-1 --dry_run=server",  # kubectl normalises _ to -
    "apply -f x.yaml --dry-run=server --server-side",
    "create deployment web --image=nginx --dry-run=client -o yaml",
    "delete pod web-1 --dry-run=none --dry-run=server",  # the last one counts
    "label pods web-1 --list",
    "annotate pods web-1 --list",
    "delete pod web-1 --help",
    "delete -h",
    "create secret generic x --help",
    "set image -f deploy.yaml app=nginx:2 --local -o yaml",
    "__complete delete pod ''",
    "",
    "rollout",
    "set",
    "certificate",
])
def test_reads_pass(line: str) -> None:
    assert cls(line) == READ, line


@pytest.mark.parametrize("line", [
    "delete pod web-1",
    "-n get delete pod x",  # -n takes `get`: the command is delete
    "--context=prod delete pod x",
    "--context prod delete pod x",
    "apply -f x.yaml",
    "apply -f -",
    "apply set-last-applied -f x.yaml",
    "apply edit-last-applied deploy/web",
    "create -f x.yaml",
    "create cm x --from-literal=a=b",
    "create secret generic x --from-literal --help",  # --help is the literal's value
    "edit deploy/web",
    "patch deploy/web -p '{}'",
    "replace -f x.yaml",
    "scale deploy/web --replicas=3",
    "autoscale deploy/web --max=5",
    "rollout restart deploy/web",
    "rollout pause deploy/web",
    "rollout resume deploy/web",
    "rollout undo deploy/web",
    "drain node-1",
    "cordon node-1",
    "uncordon node-1",
    "taint nodes node-1 k=v:NoSchedule",
    "label pods web-1 a=b",
    "label pods web-1 a=b --list=false",
    "annotate pods web-1 a=b",
    "set image deploy/web app=nginx:2",
    "set env deploy/web A=1",
    "set resources deploy/web --limits=cpu=1",
    "set selector svc/web app=x",
    "set serviceaccount deploy/web sa",
    "set subject rolebinding/x --user=u",
    "expose deploy/web --port=80",
    "run web --image=nginx",
    "debug web-1 -it --image=busybox",
    "certificate approve csr-1",
    "certificate deny csr-1",
    "auth reconcile -f rbac.yaml",
    "exec -it web-1 -- sh",
    "exec web-1 -- kubectl --help",  # after -- it is the container's command
    "attach web-1",
    "cp web-1:/etc/hosts hosts",
    "port-forward svc/web 8080:80",
    "proxy",
    "delete pod web-1 --dry-run",  # bare: kubectl reads it as deprecated client, kctx asks
    "delete pod web-1 --dry-run=none",
    "delete pod web-1 --dry-run=server --dry-run=none",
    "delete pod web-1 --dry-run=true",
    "delete pod web-1 --help=false",
    "delete pod web-1 --bogus --dry-run=server",  # unknown flag: nothing harmless is trusted
    "foo bar",  # a plugin
    "rollout frobnicate deploy/web",  # a subcommand kctx does not know
    "-A delete pods --all",  # kubectl looks for a plugin after a flag; kctx cannot tell
    "create networkpolicy x",  # create plugins
])
def test_changes_ask(line: str) -> None:
    assert cls(line) == WRITE, line


def test_config_extends_the_table() -> None:
    assert cls("logs web-1", ask=["logs"]) == WRITE
    assert cls("rollout status deploy/x", ask=["rollout status"]) == WRITE
    assert cls("rollout history deploy/x", ask=["rollout status"]) == READ
    assert cls("ns prod", allow=["ns"]) == READ  # a plugin declared harmless
    assert cls("scale deploy/x --replicas=1", allow=["scale"]) == READ
    assert cls("scale deploy/x --replicas=1", allow=["scale"], ask=["scale"]) == WRITE  # ask wins
    assert cls("port-forward svc/x 80", port_forward=False) == READ
    assert cls("proxy", proxy=False) == READ
    assert cls("proxy", port_forward=False) == WRITE


def test_flags_with_values_are_read_like_kubectl() -> None:
    p = parse(shlex.split("-n get delete pod x"))
    assert p.path == ("delete",) and p.last("namespace") == "get" and p.args == ["pod", "x"]
    p = parse(["--namespace=a", "-nb", "-n=c", "--context", "x", "get", "pods", "-n", "d"])
    assert p.flags["namespace"] == ["a", "b", "c", "d"] and p.last("context") == "x"
    p = parse(["exec", "-it", "web", "-c", "app", "--", "sh", "-c", "echo --dry-run=server"])
    assert p.true("stdin") and p.true("tty") and p.last("container") == "app"
    assert p.dash == ["sh", "-c", "echo --dry-run=server"] and "dry-run" not in p.flags
    p = parse(["logs", "-f", "web"])  # -f is --follow for logs ...
    assert p.true("follow") and p.args == ["web"]
    p = parse(["delete", "-f", "web.yaml"])  # ... and --filename for delete
    assert p.last("filename") == "web.yaml"
    p = parse(["--kubeconfig", "/x", "-s", "https://h", "--user=u", "--cluster", "c", "get", "pods"])
    assert (p.last("kubeconfig"), p.last("server"), p.last("user"), p.last("cluster")) == ("/x", "https://h", "u", "c")
    p = parse(["create", "cm", "x", "--from-literal", "--help"])
    assert p.path == ("create", "configmap") and p.last("from-literal") == "--help" and not p.true("help")
    p = parse(["get", "pods", "-"])  # a lone dash is an argument
    assert p.args == ["pods", "-"]


def test_cobra_finds_the_command_past_global_flags_only() -> None:
    assert parse(["--request-timeout", "5s", "get", "pods"]).path == ("get",)
    assert parse(["--insecure-skip-tls-verify", "get", "pods"]).path == ("get",)  # a bool
    assert parse(["--warnings-as-errors=true", "rollout", "status", "deploy/x"]).path == ("rollout", "status")
    # -h is not known while cobra looks for the command: it takes the next word, as kubectl does.
    assert parse(["rollout", "-h", "restart"]).path == ("rollout",)
    assert parse(["create", "--edit=true", "secret", "generic", "x"]).path == ("create", "secret", "generic")
    # create's own bool flag is unknown one level down, so it takes `generic`: kubectl then
    # runs `create secret` and fails on --edit ("unknown flag"), as kctx expects.
    p = parse(["create", "--edit", "secret", "generic", "x"])
    assert p.path == ("create", "secret") and p.unknown == ["--edit"]


def test_bool_values_follow_go() -> None:
    assert [parse_bool(v) for v in ("1", "t", "TRUE", "True", "0", "F", "false", "yes", "")] == \
        [True, True, True, True, False, False, False, None, None]
    assert parse(["label", "po", "x", "--list=1"]).true("list")
    assert not parse(["label", "po", "x", "--list=0"]).true("list")
    assert parse(["label", "po", "x", "--list=yes"]).errors


def test_kinds_come_from_kubectls_help() -> None:
    assert kind("", "namespace") == "v" and kind("", "insecure-skip-tls-verify") == "b"
    assert kind("delete", "dry-run") == "o" and kind("delete", "now") == "b"
    assert kind("get", "dry-run") is None
    assert kind("logs", "follow") == "b" and kind("get", "nonexistent") is None


def test_rebuild_keeps_flags_and_drops_what_follows_dashdash() -> None:
    p = parse(shlex.split("-n prod apply -f - --server-side --dry-run=none -o yaml"))
    assert p.rebuild(["diff"], keep="diff", drop=("dry-run", "output")) == \
        ["diff", "--namespace=prod", "--filename=-", "--server-side=true"]
    p = parse(shlex.split("delete -f x.yaml --cascade -- ignored"))
    assert p.rebuild(["delete"], extra=["--dry-run=server"]) == \
        ["delete", "--filename=x.yaml", "--cascade", "--dry-run=server"]


@pytest.mark.parametrize("line, everywhere, named", [
    ("delete pod x", False, []),
    ("-A delete pods --all", False, []),  # (no command found: classified as unknown anyway)
    ("delete pods --all -A", True, []),
    ("delete ns prod-payments", False, ["prod-payments"]),
    ("delete namespace/prod-a namespaces/prod-b", False, ["prod-a", "prod-b"]),
    ("create namespace prod-new", False, ["prod-new"]),
    ("apply -f x.yaml", True, []),  # manifests may name any namespace
    ("apply -f x.yaml -n dev-x", False, []),  # kubectl enforces -n on them
    ("drain node-1", True, []),
    ("delete clusterrole admin", True, []),
    ("delete crd,pods x", True, []),
    ("label nodes node-1 a=b", True, []),
])
def test_scope(line: str, everywhere: bool, named: list[str]) -> None:
    assert scope(parse(shlex.split(line))) == (everywhere, named)
