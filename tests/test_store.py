"""The store: import, names, tiers, the index, bad input, file modes, concurrent writers."""

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kctx import config, names, paths
from kctx.errors import FatalError
from kctx.store import Store, sanitise, valid_name


def infer_tier(name: str) -> str:
    return names.infer_tier(config._merge(None), name)[0]

KCTX = str(Path(sys.executable).parent / "kctx")


@pytest.fixture(autouse=True)
def store_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KCTX_HOME", str(tmp_path / "kctx-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    (tmp_path / "home").mkdir(exist_ok=True)
    return tmp_path / "kctx-home"


def kubeconfig(path: Path, contexts: list[tuple[str, str]], extra_users: str = "") -> Path:
    """A kubeconfig whose contexts (name, server) each have their own cluster and user."""
    clusters = "".join(
        f"- name: c{i}\n  cluster:\n    server: {server}\n    certificate-authority: certs/ca{i}.crt\n"
        for i, (_, server) in enumerate(contexts)
    )
    users = "".join(
        f"- name: u{i}\n  user:\n    token: secret-{i}\n" for i in range(len(contexts))
    ) + extra_users
    ctxs = "".join(
        f"- name: {json.dumps(name)}\n  context:\n    cluster: c{i}\n    user: u{i}\n"
        for i, (name, _) in enumerate(contexts)
    )
    path.write_text(
        f"apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n{users}contexts:\n{ctxs}"
        f"current-context: {json.dumps(contexts[0][0])}\n"
    )
    return path


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([KCTX, *args], capture_output=True, text=True, check=False, **kw)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- names and tiers ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,ok", [
    ("prod", True), ("eks-prod-eu", True), ("a.b_c-1", True), ("9lives", True),
    ("-lead", False), (".hidden", False), ("a b", False), ("$(x)", False), ("", False),
    ("x" * 63, True), ("x" * 64, False), ("é", False), ("../x", False),
])
def test_valid_names(name, ok):
    assert valid_name(name) is ok


@pytest.mark.parametrize("raw,clean", [
    ("$(touch x)", "touch-x"), ("`id`", "id"), ("a;b", "a-b"), ("it's", "it-s"),
    ("%F{red}", "F-red"), ("my cluster", "my-cluster"), ("..", ""), ("../../etc/passwd", "etc-passwd"),
    ("prod-é", "prod"), ("-rf", "rf"), ("arn:aws:eks:eu-west-1:1:cluster/prod", "arn-aws-eks-eu-west-1-1-cluster-prod"),
])
def test_sanitise(raw, clean):
    assert sanitise(raw) == clean
    assert clean == "" or valid_name(clean)


@pytest.mark.parametrize("name,tier", [
    ("prod", "prod"), ("eks-prod-eu", "prod"), ("prd", "prod"), ("PRODUCTION", "prod"),
    ("live.eu", "prod"), ("products", "none"), ("reproduce", "none"), ("delivery", "none"),
    ("staging", "staging"), ("gke_proj_europe_prod", "prod"),  # staging: inferred since issue 11
])
def test_infer_tier(name, tier):
    assert infer_tier(name) == tier


# -- import ------------------------------------------------------------------------------------
def test_import_splits_one_private_file_per_context(tmp_path, store_home):
    src = kubeconfig(tmp_path / "config", [("prod", "https://p.example:6443"), ("dev", "https://d.example")])
    before = digest(src)
    report = Store().import_files([str(src)])
    assert sorted(report.imported) == ["dev", "prod"]
    assert digest(src) == before
    entries = Store().entries()
    assert entries["prod"].tier == "prod" and entries["dev"].tier == "dev"  # dev inferred since issue 11
    assert entries["prod"].server == "https://p.example:6443"
    for name in ("prod", "dev"):
        f = Path(paths.entry_file(name))
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert stat.S_IMODE(f.parent.stat().st_mode) == 0o700
        text = f.read_text()
        assert "secret-1" not in text if name == "prod" else "secret-0" not in text
    assert stat.S_IMODE(Path(paths.data_dir()).stat().st_mode) == 0o700
    for f in Path(paths.data_dir()).iterdir():
        if f.is_file():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_relative_paths_become_absolute(tmp_path):
    (tmp_path / "dl").mkdir()
    src = kubeconfig(
        tmp_path / "dl" / "eks.yaml",
        [("one", "https://one.example")],
        extra_users="- name: plug\n  user:\n    exec:\n      command: ./bin/auth\n"
                    "      apiVersion: client.authentication.k8s.io/v1\n"
                    "- name: bare\n  user:\n    exec:\n      command: aws\n",
    )
    text = src.read_text().replace("user: u0", "user: plug")
    src.write_text(text)
    Store().import_files([str(src)])
    import yaml

    doc = yaml.safe_load(Path(paths.entry_file("one")).read_text())
    assert doc["clusters"][0]["cluster"]["certificate-authority"] == str(tmp_path / "dl" / "certs" / "ca0.crt")
    assert doc["users"][0]["user"]["exec"]["command"] == str(tmp_path / "dl" / "bin" / "auth")
    assert doc["contexts"][0]["name"] == "one" and doc["current-context"] == "one"


def test_reimport_is_idempotent_and_conflicts_are_refused(tmp_path):
    src = kubeconfig(tmp_path / "a", [("shared", "https://a.example")])
    other = kubeconfig(tmp_path / "b", [("shared", "https://b.example")])
    Store().import_files([str(src)])
    again = Store().import_files([str(src)])
    assert again.unchanged == ["shared"] and not again.imported
    with pytest.raises(FatalError, match="already has different entries named shared"):
        Store().import_files([str(other)])
    assert Store().get("shared").server == "https://a.example"
    prefixed = Store().import_files([str(other)], prefix="b-")
    assert prefixed.imported == ["b-shared"]
    forced = Store().import_files([str(other)], force=True)
    assert forced.updated == ["shared"]
    assert Store().get("shared").server == "https://b.example"


def test_tier_option_and_retier(tmp_path):
    src = kubeconfig(tmp_path / "c", [("eks-live", "https://x"), ("qa", "https://y")])
    Store().import_files([str(src)], tier="staging")
    assert {e.tier for e in Store().entries().values()} == {"staging"}
    Store().set_tier("qa", "prod", ["prod", "staging", "dev", "none"])
    assert Store().get("qa").tier == "prod"
    with pytest.raises(FatalError, match="unknown tier"):
        Store().set_tier("qa", "nope", ["prod", "none"])


def test_hostile_names_are_sanitised_or_refused(tmp_path, store_home):
    hostile = ["$(touch x)", "`touch y`", "a;touch z", "it's", "%F{red}", "my cluster", "..",
               "../../etc/passwd", "prod-é", "-rf", "名前"]
    src = kubeconfig(tmp_path / "h", [(n, f"https://h{i}.example") for i, n in enumerate(hostile)])
    r = run("import", str(src), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    names = sorted(os.listdir(paths.entries_dir()))
    assert all(valid_name(n[:-5]) for n in names)
    assert not any((tmp_path / f).exists() for f in ("x", "y", "z"))
    assert not (Path("/etc") / "passwd.yaml").exists()
    assert "renamed" in r.stderr
    strict = run("import", "--strict", "--prefix", "s-", str(src), cwd=tmp_path)
    assert strict.returncode == 1 and "not a valid entry name" in strict.stderr
    assert len(strict.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("a: [", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
    ("apiVersion: v1\nkind: Config\n", "no 'contexts'"),
    ("contexts:\n- name: x\n  context: {cluster: gone, user: u}\nclusters: []\nusers: [{name: u, user: {}}]\n",
     "refers to cluster 'gone'"),
    ("contexts:\n- name: x\n  context: {cluster: c, user: ghost}\nclusters: [{name: c, cluster: {server: 'https://x'}}]\n",
     "refers to user 'ghost'"),
    ("\xff\xfe binary", "not"),
])
def test_bad_input_is_one_line_and_leaves_store_alone(tmp_path, content, message):
    good = kubeconfig(tmp_path / "good", [("keep", "https://k.example")])
    assert run("import", str(good)).returncode == 0
    before = {p.name: p.read_bytes() for p in Path(paths.data_dir()).rglob("*") if p.is_file()}
    bad = tmp_path / "bad.yaml"
    if content is not None:
        bad.write_bytes(content.encode("latin-1") if content.startswith("\xff") else content.encode())
    r = run("import", str(bad))
    assert r.returncode == 1
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    after = {p.name: p.read_bytes() for p in Path(paths.data_dir()).rglob("*") if p.is_file()}
    assert after == before


def test_unknown_entry_and_bad_tier_messages(tmp_path):
    for args, text in [(("show", "nope"), "no entry named 'nope'"), (("tier", "nope", "prod"), "no entry"),
                       (("rm", "nope"), "no entry"), (("rename", "nope", "x"), "no entry"),
                       (("import", "--tier", "bogus", "x"), "unknown tier")]:
        r = run(*args)
        assert r.returncode == 1 and text in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_read_only_store_fails_cleanly(tmp_path, store_home):
    if os.geteuid() == 0:
        # root ignores permission bits; simulate an unwritable folder with a file in its place.
        store_home.mkdir(parents=True)
        (store_home / "data").write_text("not a folder")
    else:
        store_home.mkdir(parents=True)
        store_home.chmod(0o500)
    src = kubeconfig(tmp_path / "c", [("a", "https://a")])
    r = run("import", str(src))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_rename_and_rm(tmp_path):
    src = kubeconfig(tmp_path / "c", [("old", "https://o"), ("other", "https://x")])
    Store().import_files([str(src)])
    assert run("rename", "old", "new").returncode == 0
    import yaml

    doc = yaml.safe_load(Path(paths.entry_file("new")).read_text())
    assert doc["current-context"] == "new" and doc["contexts"][0]["name"] == "new"
    assert not Path(paths.entry_file("old")).exists()
    assert run("rename", "new", "other").returncode == 1
    assert run("rename", "new", "bad name").returncode == 1
    assert run("rm", "new", "ghost").returncode == 1  # all or nothing
    assert Path(paths.entry_file("new")).exists()
    assert run("rm", "new").returncode == 0
    assert set(Store().entries()) == {"other"}


def test_index_rebuilds_when_stale_or_damaged(tmp_path):
    src = kubeconfig(tmp_path / "c", [("edited", "https://before"), ("x-prod", "https://p")])
    Store().import_files([str(src)])
    f = Path(paths.entry_file("edited"))
    f.write_text(f.read_text().replace("https://before", "https://after:8443"))
    assert Store().get("edited").server == "https://after:8443"
    # A kubeconfig dropped into the folder by hand becomes an entry.
    Path(paths.entry_file("hand-prod")).write_text(f.read_text().replace("edited", "hand-prod"))
    assert Store().get("hand-prod").tier == "prod"
    Path(paths.index_file()).write_text("{ broken")
    Path(paths.hot_index_file()).write_bytes(b"junk")
    assert set(Store().entries()) == {"edited", "x-prod", "hand-prod"}
    assert json.loads(Path(paths.index_file()).read_text())["version"] == 1


def test_list_outputs(tmp_path):
    src = kubeconfig(tmp_path / "c", [("prod", "https://p"), ("dev", "https://d")])
    run("import", str(src))
    text = run("list").stdout
    assert text.splitlines()[0].split()[:4] == ["NAME", "TIER", "SERVER", "NAMESPACE"]
    assert [line.split()[:2] for line in text.splitlines()[1:]] == [["dev", "dev"], ["prod", "prod"]]
    data = json.loads(run("list", "-o", "json").stdout)
    assert [d["name"] for d in data] == ["dev", "prod"]
    assert run("list", "-o", "name").stdout == "dev\nprod\n"


def test_list_sees_every_change_to_the_entry_files(tmp_path):
    """`kctx list` reads the index's columns only while the files are the ones they describe:
    an edit, a file added or removed by hand shows at once; a file the store ignores does not."""
    src = kubeconfig(tmp_path / "c", [("a-dev", "https://a"), ("b-dev", "https://b"), ("c-dev", "https://c")])
    run("import", str(src))

    def shown() -> dict[str, str]:
        r = run("list")
        assert r.returncode == 0, r.stderr
        rows = [line[2:].split() for line in r.stdout.splitlines()[1:]]  # after the "* " mark column
        return {row[0]: row[2] for row in rows}

    assert shown() == {"a-dev": "https://a", "b-dev": "https://b", "c-dev": "https://c"}
    f = Path(paths.entry_file("b-dev"))
    f.write_text(f.read_text().replace("https://b", "https://b-edited"))
    assert shown()["b-dev"] == "https://b-edited"
    Path(paths.entry_file("d-dev")).write_text(f.read_text().replace("b-dev", "d-dev"))
    assert set(shown()) == {"a-dev", "b-dev", "c-dev", "d-dev"}
    (Path(paths.entries_dir()) / "not an entry.yaml").write_text("junk")
    assert set(shown()) == {"a-dev", "b-dev", "c-dev", "d-dev"}
    Path(paths.entry_file("a-dev")).unlink()
    assert set(shown()) == {"b-dev", "c-dev", "d-dev"}
    for name in ("b-dev", "c-dev", "d-dev"):
        Path(paths.entry_file(name)).unlink()
    r = run("list")
    assert r.returncode == 0 and r.stdout == "" and "no entries yet" in r.stderr


def test_default_import_source_is_kubeconfig_env(tmp_path, monkeypatch):
    a = kubeconfig(tmp_path / "a", [("from-a", "https://a")])
    b = kubeconfig(tmp_path / "b", [("from-b", "https://b")])
    r = run("import", env={**os.environ, "KUBECONFIG": f"{a}:{b}"})
    assert r.returncode == 0, r.stderr
    assert set(Store().entries()) == {"from-a", "from-b"}


def test_default_import_source_is_home_kube_config(tmp_path):
    home = Path(os.environ["HOME"])
    (home / ".kube").mkdir()
    kubeconfig(home / ".kube" / "config", [("home-ctx", "https://h")])
    assert run("import").returncode == 0
    assert set(Store().entries()) == {"home-ctx"}


def test_concurrent_writers_leave_a_consistent_store(tmp_path):
    """Ten processes importing and retiering at once: every entry present, index valid."""
    files = [kubeconfig(tmp_path / f"k{i}", [(f"e{i}-{j}", f"https://s{i}-{j}") for j in range(20)]) for i in range(10)]
    Store().import_files([str(files[0])])
    procs = []
    # Nine importers and nine retierers of an entry none of the importers touches.
    for i, f in enumerate(files[1:], start=1):
        procs.append(subprocess.Popen([KCTX, "import", str(f), "--tier", "dev" if i % 2 else "staging"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        procs.append(subprocess.Popen([KCTX, "tier", "e0-0", "prod" if i % 2 else "dev"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert b"Traceback" not in err
    index = json.loads(Path(paths.index_file()).read_text())["entries"]
    assert len(index) == 200
    assert set(index) == {f"e{i}-{j}" for i in range(10) for j in range(20)}
    assert index["e0-0"]["tier"] in ("prod", "dev")
    assert {index[f"e{i}-{j}"]["tier"] for i in (1, 3, 5) for j in range(20)} == {"dev"}
    assert {index[f"e{i}-{j}"]["tier"] for i in (2, 4, 6) for j in range(20)} == {"staging"}
    assert not [p for p in Path(paths.entries_dir()).iterdir() if p.name.endswith(".tmp")]


def test_paths_match_platformdirs_on_linux(monkeypatch, tmp_path):
    platformdirs = pytest.importorskip("platformdirs")
    if not sys.platform.startswith("linux"):
        pytest.skip("inline XDG rules apply on Linux only")
    monkeypatch.delenv("KCTX_HOME")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    assert paths.config_dir() == platformdirs.user_config_dir("kctx")
    assert paths.data_dir() == platformdirs.user_data_dir("kctx")
    assert paths.cache_dir() == platformdirs.user_cache_dir("kctx")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.data_dir() == platformdirs.user_data_dir("kctx")


def test_config_file_errors_are_one_line(tmp_path, store_home):
    cfg = Path(paths.config_file())
    cfg.parent.mkdir(parents=True)
    for text, msg in [("tiers: [", "not valid YAML"), ("tiers:\n  qa: {color: mauve}\n", "unknown colour"),
                      ("bogus: 1\n", "unknown setting"), ("prompt: {format: '{nope}'}\n", "prompt.format")]:
        cfg.write_text(text)
        r = run("tier", "x", "prod")
        assert r.returncode == 1 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    cfg.write_text("tiers:\n  qa: {color: magenta, protected: true}\n")
    src = kubeconfig(tmp_path / "c", [("q", "https://q")])
    assert run("import", "--tier", "qa", str(src)).returncode == 0
    assert "(protected)" in run("show", "q").stdout


def test_full_disk_leaves_the_store_as_it_was(tmp_path):
    """Writes that fail midway (here: a file size limit, as on a full disk) change nothing."""
    keep = kubeconfig(tmp_path / "keep", [("keep", "https://k")])
    assert run("import", str(keep)).returncode == 0
    before = {p.name: p.read_bytes() for p in Path(paths.data_dir()).rglob("*") if p.is_file()}
    big = kubeconfig(tmp_path / "big", [(f"big-{i}", f"https://b{i}") for i in range(50)])
    text = big.read_text().replace("token: secret", "token: " + "x" * 3000 + "secret")
    big.write_text(text)
    r = subprocess.run(["bash", "-c", f"ulimit -f 2; exec {KCTX} import {big}"], capture_output=True, text=True, check=False)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    after = {p.name: p.read_bytes() for p in Path(paths.data_dir()).rglob("*") if p.is_file()}
    assert after == before
