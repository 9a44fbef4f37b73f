"""Names people can type and tiers inferred from the names: kctx.names, and `kctx import` on
kubeconfigs in the shapes EKS, eksctl, GKE, AKS (kubelogin), OpenShift, kubeadm, kind and
minikube write them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cloud_kubeconfigs as cloud
import pytest

from kctx import config, names, paths

ACCOUNT = "123456789012"


def cfg() -> dict:
    return config._merge(None)


# -- recognising generated names -------------------------------------------------------------
@pytest.mark.parametrize("context,cluster,server,user,source,kind,short,facts", [
    (f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod-eu", "", "https://A.gr7.eu-west-1.eks.amazonaws.com", "", "",
     "eks", "prod-eu", {"eks_region": "eu-west-1", "eks_account": ACCOUNT}),
    (f"arn:aws-cn:eks:cn-north-1:{ACCOUNT}:cluster/web", "", "", "", "", "eks", "web",
     {"eks_region": "cn-north-1", "eks_account": ACCOUNT}),
    # `aws eks update-kubeconfig --alias shop`: the alias is kept, the facts come from the cluster
    ("shop", f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/shop-prod", "", "", "", "eks", "shop",
     {"eks_region": "us-east-1", "eks_account": ACCOUNT}),
    ("alice@payments.us-west-2.eksctl.io", "payments.us-west-2.eksctl.io", "", "", "", "eksctl", "payments",
     {"eks_region": "us-west-2"}),
    ("me@corp.com@web.eu-central-1.eksctl.io", "", "", "", "", "eksctl", "web", {"eks_region": "eu-central-1"}),
    ("gke_acme-staging_europe-west1_staging", "", "https://34.1.2.3", "", "", "gke", "staging",
     {"gke_project": "acme-staging", "gke_location": "europe-west1"}),
    ("gke_acme-prod_us-central1-a_api", "", "", "", "", "gke", "api",
     {"gke_project": "acme-prod", "gke_location": "us-central1-a"}),
    ("connectgateway_acme_global_edge-1", "", "", "", "", "gke-fleet", "edge-1",
     {"gke_project": "acme", "gke_location": "global"}),
    ("payments/api-ocp4-example-com:6443/developer", "api-ocp4-example-com:6443",
     "https://api.ocp4.example.com:6443", "developer/api-ocp4-example-com:6443", "", "openshift", "ocp4",
     {"openshift_user": "developer", "openshift_namespace": "payments"}),
    ("kubernetes-admin@kubernetes", "kubernetes", "https://10.0.0.10:6443", "kubernetes-admin",
     "/home/u/prod-admin.conf", "kubeadm", "prod-admin", {}),
    ("kubernetes-admin@kubernetes", "kubernetes", "https://10.0.0.10:6443", "kubernetes-admin",
     "/home/u/clusters/lab/admin.conf", "kubeadm", "lab", {}),
    ("default", "default", "https://127.0.0.1:6443", "default", "/home/u/k3s.yaml", "kubeadm", "k3s", {}),
    ("prodAKS", "prodAKS", "https://prodaks-dns-1a2b.hcp.westeurope.azmk8s.io:443", "clusterUser_rg-prod_prodAKS",
     "", "aks", "prodAKS", {"aks_region": "westeurope", "aks_resource_group": "rg-prod"}),
    ("do-fra1-shop", "do-fra1-shop", "", "", "", "digitalocean", "shop", {}),
    ("kind-dev", "kind-dev", "https://127.0.0.1:39277", "", "", "", "kind-dev", {}),
    ("minikube", "minikube", "https://192.168.49.2:8443", "", "", "", "minikube", {}),
    ("my-cluster", "c", "https://x.example", "", "", "", "my-cluster", {}),
    # look-alikes that are not generated names stay as they are
    ("arn:aws:eks:eu-west-1:123:cluster/x", "", "", "", "", "", "arn:aws:eks:eu-west-1:123:cluster/x", {}),
    ("gke_only_two", "", "", "", "", "", "gke_only_two", {}),
    ("a/b/c", "", "", "", "", "", "a/b/c", {}),
])
def test_recognise(context, cluster, server, user, source, kind, short, facts):
    n = names.recognise(context, cluster, server, user, source)
    assert (n.kind, n.short) == (kind, short)
    assert n.facts == facts


def test_words():
    assert names.words("myProdCluster") == ["my", "prod", "cluster"]
    assert names.words("AKSProd01") == ["aks", "prod", "01"]
    assert names.words("gke_acme-staging_europe-west1_x") == ["gke", "acme", "staging", "europe", "west", "1", "x"]
    assert names.words("k3d-dev") == ["k", "3", "d", "dev"]


@pytest.mark.parametrize("context,cluster,server,tier,word,where", [
    ("eks-prod-eu", "", "", "prod", "prod", "context"),
    ("prd", "", "", "prod", "prd", "context"),
    ("PRODUCTION", "", "", "prod", "production", "context"),
    ("live.eu", "", "", "prod", "live", "context"),
    ("payments01", "", "https://api.prod01.example.com", "prod", "prod", "server"),
    ("shop", f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/shop-prod", "", "prod", "prod", "cluster"),
    ("gke_acme-staging_europe-west1_staging", "", "", "staging", "staging", "context"),
    ("stg2", "", "", "staging", "stg", "context"),
    ("shop-uat", "", "", "staging", "uat", "context"),
    ("pre-prod", "", "", "prod", "prod", "context"),  # "prod" is a word of it: fail closed
    ("preprod", "", "", "staging", "preprod", "context"),
    ("kind-dev", "", "", "dev", "dev", "context"),
    ("kind-payments", "", "", "dev", "kind", "context"),
    ("minikube", "", "", "dev", "minikube", "context"),
    ("docker-desktop", "", "", "dev", "docker-desktop", "context"),
    ("k3d-mycluster", "", "", "dev", "k3d", "context"),
    ("rancher-desktop", "", "", "dev", "rancher-desktop", "context"),
    ("team-sandbox", "", "", "dev", "sandbox", "context"),
    ("kind-prod-copy", "", "", "prod", "prod", "context"),  # the protected tier wins
    ("products", "", "", "none", None, None),
    ("reproduce", "", "", "none", None, None),
    ("delivery", "", "", "none", None, None),
    ("desktop", "", "", "none", None, None),
])
def test_infer_tier(context, cluster, server, tier, word, where):
    got, source = names.infer_tier(cfg(), context, cluster, server)
    assert got == tier
    if word:
        assert source == {"by": "word", "word": word, "in": where}
    else:
        assert source == {"by": "default"}


def test_word_lists_are_configurable(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    monkeypatch.setenv("KCTX_CONFIG", str(path))
    path.write_text("tiers:\n  prod: {words: [prod, prd]}\n  qa: {color: magenta, words: [qa, test-env]}\n")
    c = config.load()
    assert names.infer_tier(c, "live-eu")[0] == "none"  # live removed from prod's list
    assert names.infer_tier(c, "shop-qa")[0] == "qa"
    assert names.infer_tier(c, "my-test-env-2") == ("qa", {"by": "word", "word": "test-env", "in": "context"})
    assert names.infer_tier(c, "staging")[0] == "staging"  # the other built-in lists stay


@pytest.mark.parametrize("text,message", [
    ("tiers:\n  prod: {words: prod}\n", "tiers.prod.words: expected a list of words"),
    ("tiers:\n  prod: {words: ['pr od']}\n", "tiers.prod.words: 'pr od' is not a word"),
    ("tiers:\n  prod: {words: [[x]]}\n", "is not a word"),
    ("policy: 3\n", "policy: expected a list of policy file paths"),
])
def test_bad_word_lists_are_one_line(tmp_path, run_kctx, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    r = run_kctx("list", env={"KCTX_CONFIG": str(path)})
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


# -- choosing names ----------------------------------------------------------------------------
def test_collisions_take_the_next_distinguishing_part():
    a = names.recognise(f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod")
    b = names.recognise(f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/prod")
    c = names.recognise("arn:aws:eks:us-east-1:999999999999:cluster/prod")
    got = names.choose([names.candidates(n) for n in (a, b, c)], taken=[])
    assert got == ["prod-eu-west-1", f"prod-us-east-1-{ACCOUNT}", "prod-us-east-1-999999999999"]
    # a name the store has already pushes the newcomer on
    assert names.choose([names.candidates(a)], taken=["prod"]) == ["prod-eu-west-1"]
    # a part already in the short name is not repeated
    assert names.candidates(names.recognise(f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/web-eu-west-1")) == \
        ["web-eu-west-1", f"web-eu-west-1-{ACCOUNT}"]


def test_gke_collision_adds_location_then_project():
    a = names.recognise("gke_shop-prod_europe-west1_api")
    b = names.recognise("gke_blog-prod_europe-west1_api")
    assert names.choose([names.candidates(a), names.candidates(b)], taken=[]) == \
        ["api-europe-west1-shop-prod", "api-europe-west1-blog-prod"]


# -- kctx import on real shapes ----------------------------------------------------------------
@pytest.fixture
def cloud_files(tmp_path) -> dict[str, Path]:
    d = tmp_path / "downloads"
    return {
        "eks": cloud.eks(d / "eks.yaml", [("eu-west-1", ACCOUNT, "prod-eu", "https://A1.gr7.eu-west-1.eks.amazonaws.com")]),
        "eksctl": cloud.eksctl(d / "eksctl.yaml", "alice", "payments", "us-west-2",
                               "https://B2.yl4.us-west-2.eks.amazonaws.com"),
        "gke": cloud.gke(d / "gke.yaml", [("acme-staging", "europe-west1", "staging", "https://34.76.1.2")]),
        "aks": cloud.aks(d / "aks.yaml", "shopAKS", "rg-shop", "https://shopaks-dns-1a2b.hcp.westeurope.azmk8s.io:443"),
        "openshift": cloud.openshift(d / "oc.yaml", "payments", "developer", "https://api.ocp-uat.example.com:6443"),
        "kubeadm": cloud.kubeadm(d / "prod-admin.conf", "https://10.0.0.10:6443"),
        "kind": cloud.kind(d / "kind.yaml", "dev", "https://127.0.0.1:39277"),
        "minikube": cloud.minikube(d / "minikube.yaml", "https://192.168.49.2:8443"),
    }


def listing(run_kctx) -> dict[str, dict]:
    r = run_kctx("list", "-o", "json", check=True)
    return {e["name"]: e for e in json.loads(r.stdout)}


def test_import_names_every_shape_after_its_cluster(cloud_files, run_kctx):
    r = run_kctx("import", *map(str, cloud_files.values()))
    assert r.returncode == 0, r.stderr
    got = listing(run_kctx)
    expect = {
        "prod-eu": (f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod-eu", "prod"),
        "payments": ("alice@payments.us-west-2.eksctl.io", "none"),
        "staging": ("gke_acme-staging_europe-west1_staging", "staging"),
        "shopAKS": ("shopAKS", "none"),
        "ocp-uat": ("payments/api-ocp-uat-example-com:6443/developer", "staging"),
        "prod-admin": ("kubernetes-admin@kubernetes", "prod"),
        "kind-dev": ("kind-dev", "dev"),
        "minikube": ("minikube", "dev"),
    }
    assert {n: (e["context"], e["tier"]) for n, e in got.items()} == expect
    assert got["prod-eu"]["facts"] == {"eks_account": ACCOUNT, "eks_region": "eu-west-1"}
    assert got["staging"]["facts"]["gke_project"] == "acme-staging"
    assert got["prod-eu"]["tier_source"] == {"by": "word", "word": "prod", "in": "context"}
    assert got["minikube"]["tier_source"] == {"by": "word", "word": "minikube", "in": "context"}
    assert got["payments"]["tier_source"] == {"by": "default"}
    # the report says what was named how, and which word gave which tier
    assert f"named: arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod-eu as prod-eu" in r.stderr
    assert 'prod-eu (prod: "prod" in the context name)' in r.stderr
    assert 'ocp-uat (staging: "uat" in the context name)' in r.stderr
    assert 'minikube (dev: "minikube" in the context name)' in r.stderr
    # the entry file's context is the entry's name; the cluster and user keep theirs
    import yaml

    doc = yaml.safe_load(Path(paths.entry_file("prod-eu")).read_text())
    assert doc["current-context"] == "prod-eu"
    assert doc["clusters"][0]["name"] == f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod-eu"
    assert doc["users"][0]["user"]["exec"]["command"] == "aws"


def test_show_gives_the_original_context_and_where_the_tier_came_from(cloud_files, run_kctx):
    run_kctx("import", str(cloud_files["eks"]), check=True)
    text = run_kctx("show", "prod-eu", check=True).stdout
    assert f"original context: arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod-eu" in text
    assert 'tier from:        inferred from the word "prod" in the context name' in text
    assert "eks account:      123456789012" in text
    data = json.loads(run_kctx("show", "prod-eu", "-o", "json", check=True).stdout)
    assert data["context"] == f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod-eu"
    assert data["protected"] is True


def test_names_full_keeps_todays_naming(cloud_files, run_kctx):
    r = run_kctx("import", "--names", "full", str(cloud_files["eks"]), str(cloud_files["gke"]))
    assert r.returncode == 0, r.stderr
    assert set(listing(run_kctx)) == {f"arn-aws-eks-eu-west-1-{ACCOUNT}-cluster-prod-eu",
                                      "gke_acme-staging_europe-west1_staging"}


def test_colliding_short_names_say_so(tmp_path, run_kctx):
    src = cloud.eks(tmp_path / "eks.yaml", [
        ("eu-west-1", ACCOUNT, "prod", "https://A.gr7.eu-west-1.eks.amazonaws.com"),
        ("us-east-1", ACCOUNT, "prod", "https://B.gr7.us-east-1.eks.amazonaws.com"),
    ])
    gke = cloud.gke(tmp_path / "gke.yaml", [("shop-prod", "europe-west1", "prod", "https://34.1.1.1")])
    r = run_kctx("import", str(src), str(gke))
    assert r.returncode == 0, r.stderr
    assert set(listing(run_kctx)) == {"prod-eu-west-1", "prod-us-east-1", "prod-europe-west1"}
    assert "as prod-us-east-1 (another cluster is also called prod)" in r.stderr
    # A later import of yet another `prod` does not take an existing entry's name...
    more = cloud.eks(tmp_path / "more.yaml", [("ap-south-1", ACCOUNT, "prod", "https://C.gr7.ap-south-1.eks.amazonaws.com")])
    r = run_kctx("import", str(more))
    assert r.returncode == 0, r.stderr
    assert "prod-ap-south-1" in listing(run_kctx)
    # ... and a re-import keeps every name (nothing new, nothing renamed)
    again = run_kctx("import", str(src), str(gke), str(more))
    assert again.returncode == 0 and "unchanged 4" in again.stderr and "named:" not in again.stderr
    assert len(listing(run_kctx)) == 4


def test_short_name_taken_by_an_existing_entry_is_lengthened(tmp_path, run_kctx, kubeconfig):
    mine = kubeconfig([{"name": "payments", "server": "https://mine.example"}])
    run_kctx("import", str(mine), check=True)
    other = cloud.eksctl(tmp_path / "e.yaml", "bob", "payments", "eu-west-1", "https://Q.gr7.eu-west-1.eks.amazonaws.com")
    r = run_kctx("import", str(other))
    assert r.returncode == 0, r.stderr
    assert set(listing(run_kctx)) == {"payments", "payments-eu-west-1"}
    assert listing(run_kctx)["payments"]["server"] == "https://mine.example"


def test_generic_kubeadm_names_come_from_the_file(tmp_path, run_kctx):
    a = cloud.kubeadm(tmp_path / "lab" / "admin.conf", "https://10.0.0.1:6443")
    b = cloud.kubeadm(tmp_path / "edge-prd.conf", "https://10.0.0.2:6443")
    r = run_kctx("import", str(a), str(b))
    assert r.returncode == 0, r.stderr
    got = listing(run_kctx)
    assert set(got) == {"lab", "edge-prd"}
    assert got["edge-prd"]["tier"] == "prod"  # "prd" is a word of the file's name, kept as the entry's
    assert got["lab"]["context"] == "kubernetes-admin@kubernetes"


def test_explicit_tiers_survive_reimport_inferred_ones_follow_the_words(cloud_files, run_kctx):
    run_kctx("import", str(cloud_files["eksctl"]), check=True)
    assert run_kctx("tier", "payments", "prod").returncode == 0
    run_kctx("import", "--force", str(cloud_files["eksctl"]), check=True)
    got = listing(run_kctx)["payments"]
    assert (got["tier"], got["tier_source"]) == ("prod", {"by": "kctx tier"})
    run_kctx("import", "--tier", "staging", str(cloud_files["kind"]), check=True)
    assert listing(run_kctx)["kind-dev"]["tier_source"] == {"by": "--tier"}


def test_import_json_reports_names(cloud_files, run_kctx):
    r = run_kctx("import", "-o", "json", str(cloud_files["gke"]), check=True)
    data = json.loads(r.stdout)
    assert data["named"] == [{"context": "gke_acme-staging_europe-west1_staging", "entry": "staging", "kind": "gke"}]
    assert data["imported"] == ["staging"]


# -- the original context name -----------------------------------------------------------------
def _bash(script: str) -> subprocess.CompletedProcess:
    full = 'eval "$(kctx init bash --no-kubectl)"\n' + script
    return subprocess.run(["bash", "--norc", "--noprofile", "-c", full], capture_output=True, text=True,
                          timeout=60, check=False)


def test_use_accepts_the_original_context_name(cloud_files, run_kctx, kubectl_path_dir):
    run_kctx("import", str(cloud_files["eks"]), str(cloud_files["gke"]), check=True)
    arn = f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod-eu"
    r = _bash(f"kctx use '{arn}' && printf '%s|%s|%s\\n' \"$KCTX_CONTEXT\" \"$KCTX_TIER\" \"$KUBECONFIG\"\n"
              f"PATH={kubectl_path_dir}:$PATH kubectl config current-context\n"
              "kctx use gke_acme-staging_europe-west1_staging -n web && echo \"$KCTX_CONTEXT:$KCTX_NAMESPACE\"\n"
              "kctx use - && echo \"back:$KCTX_CONTEXT\"")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    entry, tier, _ = lines[0].split("|")  # KUBECONFIG: a protected entry's leads to the API guard (issue 7)
    assert (entry, tier) == ("prod-eu", "prod")
    assert lines[1] == "prod-eu"
    assert lines[2] == "staging:web"
    assert lines[3] == "back:prod-eu"


def test_an_original_name_shared_by_entries_is_ambiguous(tmp_path, run_kctx):
    a = cloud.kubeadm(tmp_path / "lab.conf", "https://10.0.0.1:6443")
    b = cloud.kubeadm(tmp_path / "edge.conf", "https://10.0.0.2:6443")
    run_kctx("import", str(a), str(b), check=True)
    r = _bash("kctx use kubernetes-admin@kubernetes")
    assert r.returncode == 1
    assert "original context of several entries: edge, lab" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _bash("kctx use 'no such thing'")
    assert r.returncode == 1 and "no entry named 'no such thing'" in r.stderr



@pytest.mark.parametrize("typed, candidates, meant", [
    ("prod-main", ["arn-aws-eks-eu-west-1-1234-cluster-prod-main", "dev"],
     ["arn-aws-eks-eu-west-1-1234-cluster-prod-main"]),
    ("prod", ["prod-us", "prod-eu", "eks-prod", "products", "dev"], ["prod-eu", "prod-us", "eks-prod"]),
    ("prdo", ["prod", "dev"], ["prod"]),
    ("prdo-main", ["arn-aws-eks-eu-west-1-1234-cluster-prod-main", "dev"],
     ["arn-aws-eks-eu-west-1-1234-cluster-prod-main"]),
    ("prod_eu", ["prod-eu", "prod-us"], ["prod-eu"]),
    ("Staging", ["staging", "stg"], ["staging"]),
    ("qa", ["prod", "dev"], []),
    ("", ["prod"], []),
    ("$(rm -rf ~)", ["rm-rf", "dev"], ["rm-rf"]),
])
def test_suggestions_are_the_entries_a_typo_meant(typed, candidates, meant):
    assert names.suggestions(typed, candidates) == meant


def test_a_mistyped_name_is_answered_with_the_entries_it_may_mean_and_never_chooses_one(cloud_files, run_kctx):
    run_kctx("import", str(cloud_files["eks"]), str(cloud_files["gke"]), check=True)
    r = _bash('kctx use prod-ue; echo "rc=$? target=${KCTX_CONTEXT:-none}"')
    assert r.stderr.strip() == ("kctx: no entry named 'prod-ue' (did you mean prod-eu? 'kctx list' shows the "
                                "entries)")
    assert r.stdout.strip() == "rc=1 target=none"
    for argv in (("show", "Staging"), ("tier", "Staging", "dev"), ("rm", "Staging"), ("rename", "Staging", "x")):
        r = run_kctx(*argv)
        assert r.returncode == 1, argv
        assert r.stderr.strip() == ("kctx: no entry named 'Staging' (did you mean staging? 'kctx list' shows "
                                    "the entries)"), argv
    assert sorted(listing(run_kctx)) == ["prod-eu", "staging"]  # nothing renamed, retiered or removed
    assert listing(run_kctx)["staging"]["tier"] == "staging"
