"""Version strings: every managed-distro gitVersion form, emulation, normalising, the skew policy."""
from __future__ import annotations

import pytest

from kctx.kubectl import versions

# gitVersion as real servers report it -> (release kubectl should match, effective major.minor)
SERVER_FORMS = [
    ("v1.30.1-gke.1329003", "1.30.1", (1, 30)),
    ("v1.29.6-eks-1de2ab1", "1.29.6", (1, 29)),
    ("v1.30.4-eks-a737599", "1.30.4", (1, 30)),
    ("v1.28.5+k3s1", "1.28.5", (1, 28)),
    ("v1.27.3+rke2r1", "1.27.3", (1, 27)),
    ("v1.31.0-rc.1", "1.31.0-rc.1", (1, 31)),
    ("v1.31.0-beta.0", "1.31.0-beta.0", (1, 31)),
    ("v1.32.0-alpha.3", "1.32.0-alpha.3", (1, 32)),
    ("v1.31.0-alpha.3.123+5a6b7c8d9e0f12", "1.31.0-alpha.3", (1, 31)),
    ("v1.29.10", "1.29.10", (1, 29)),
    ("1.30.2", "1.30.2", (1, 30)),  # no leading v
    ("v1.28.15-aliyun.1", "1.28.15", (1, 28)),
    ("v1.30.2-dirty", "1.30.2", (1, 30)),
    ("v1.30", "1.30.0", (1, 30)),
    (" v1.26.4-gke.1400 ", "1.26.4", (1, 26)),
]


@pytest.mark.parametrize(("git", "release", "mm"), SERVER_FORMS)
def test_parse_every_server_form(git: str, release: str, mm: tuple[int, int]) -> None:
    kv = versions.parse(git)
    assert kv.release == release
    assert kv.kubectl() == release
    assert kv.effective == mm


@pytest.mark.parametrize("bad", ["", "v", "latest", "vX.Y.Z", "1", "v1.x.3", "1!1.30.0", "1.30.post1"])
def test_parse_refuses_non_versions(bad: str) -> None:
    with pytest.raises(ValueError):
        versions.parse(bad)


def test_minor_field_is_never_trusted() -> None:
    # EKS says minor "29+"; a server could even lie outright: gitVersion wins.
    info = {"major": "1", "minor": "21+", "gitVersion": "v1.29.6-eks-1de2ab1"}
    kv = versions.from_version_info(info)
    assert kv.effective == (1, 29)
    assert kv.kubectl() == "1.29.6"


def test_emulation_version_is_preferred() -> None:
    info = {"major": "1", "minor": "33", "gitVersion": "v1.33.1",
            "emulationMajor": "1", "emulationMinor": "32"}
    kv = versions.from_version_info(info)
    assert kv.effective == (1, 32)
    assert kv.kubectl() == "1.32"  # the newest 1.32 patch, not 1.33.1


def test_emulation_equal_to_binary_changes_nothing() -> None:
    info = {"gitVersion": "v1.33.1", "emulationMajor": "1", "emulationMinor": "33"}
    kv = versions.from_version_info(info)
    assert kv.emulated is None and kv.kubectl() == "1.33.1"


@pytest.mark.parametrize("info", [{}, {"gitVersion": ""}, {"gitVersion": 5}, {"major": "1", "minor": "30"}])
def test_version_info_without_git_version(info: dict) -> None:
    with pytest.raises(ValueError):
        versions.from_version_info(info)


def test_garbage_emulation_fields_are_ignored() -> None:
    kv = versions.from_version_info({"gitVersion": "v1.30.1", "emulationMajor": "x", "emulationMinor": "y"})
    assert kv.effective == (1, 30)


@pytest.mark.parametrize(("typed", "expected"), [
    ("1.31", "1.31"), ("v1.31.2", "1.31.2"), ("1.31.02", "1.31.2"), ("1.31.0-rc.1", "1.31.0-rc.1"),
    ("V1.29.10", "1.29.10"), (" 1.30.4 ", "1.30.4"),
])
def test_normalise(typed: str, expected: str) -> None:
    assert versions.normalise(typed) == expected


@pytest.mark.parametrize("typed", ["1", "1.31.2.4", "latest", "1.31-rc.1", "1.31.0-foo.1", "../1.30",
                                   "1.30/..", "1.３0.1", "1.30.1-rc", ""])
def test_normalise_refuses(typed: str) -> None:
    with pytest.raises(ValueError):
        versions.normalise(typed)


def test_sort_key_orders_prereleases_before_releases() -> None:
    given = ["1.31.1", "1.30.2", "1.31.0", "1.31.0-rc.1", "1.31.0-alpha.1", "1.31.0-beta.2", "1.30.10"]
    assert sorted(given, key=versions.sort_key) == [
        "1.30.2", "1.30.10", "1.31.0-alpha.1", "1.31.0-beta.2", "1.31.0-rc.1", "1.31.0", "1.31.1"]


@pytest.mark.parametrize(("kubectl", "server", "ok"), [
    ((1, 30), (1, 30), True), ((1, 31), (1, 30), True), ((1, 29), (1, 30), True),
    ((1, 32), (1, 30), False), ((1, 28), (1, 30), False), ((2, 30), (1, 30), False),
])
def test_skew_policy(kubectl: tuple[int, int], server: tuple[int, int], ok: bool) -> None:
    assert versions.within_skew(kubectl, server) is ok


def test_skew_warning_text() -> None:
    assert versions.skew_warning("1.30.4", (1, 31), "v1.31.2") is None
    text = versions.skew_warning("1.27.3", (1, 30), "v1.30.4-eks-a737599")
    assert text is not None
    assert "v1.27.3" in text and "v1.30.4-eks-a737599" in text and "1.29 to 1.31" in text


def test_major_minor_cheap_helper() -> None:
    assert versions.major_minor("1.30.4") == (1, 30)
    assert versions.major_minor("v1.31.0-rc.1") == (1, 31)
    assert versions.major_minor("1.29") == (1, 29)
    assert versions.major_minor("nonsense") is None


def test_hot_helpers_do_not_import_packaging() -> None:
    import subprocess
    import sys

    code = ("import sys, kctx.kubectl.versions as v; v.major_minor('1.30.4'); v.normalise('1.30'); "
            "v.within_skew((1, 30), (1, 31)); print('packaging' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
