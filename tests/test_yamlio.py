"""kctx.yamlio reads and writes YAML exactly as PyYAML's C loader and dumper do.

Its line reader and writer handle the usual block shape themselves and leave the rest to
PyYAML: these tests compare both on the shapes kubectl and the cloud CLIs write, on hostile
strings, and on random documents.
"""

from __future__ import annotations

import datetime
import random

import pytest
import yaml

from kctx import yamlio

OPTIONS = {"default_flow_style": False, "sort_keys": False, "allow_unicode": True}
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def reference_load(text: str):
    return yaml.load(text, Loader=LOADER)


def reference_dump(doc) -> str:
    return yaml.dump(doc, Dumper=DUMPER, **OPTIONS)


EKS = """\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: QUJDRA==
    server: https://ABCD.gr7.eu-west-1.eks.amazonaws.com
  name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
contexts:
- context:
    cluster: arn:aws:eks:eu-west-1:123456789012:cluster/prod
    user: arn:aws:eks:eu-west-1:123456789012:cluster/prod
  name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
current-context: arn:aws:eks:eu-west-1:123456789012:cluster/prod
kind: Config
preferences: {}
users:
- name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - eu-west-1
      - eks
      - get-token
      - --cluster-name
      - prod
      command: aws
      env: null
      interactiveMode: IfAvailable
      provideClusterInfo: false
"""

KUBECTL_STYLE = """\
apiVersion: v1
kind: Config
clusters:
  - name: "kind-kind"
    cluster:
      server: 'https://127.0.0.1:6443'
      insecure-skip-tls-verify: true
# a comment line
contexts:
  - name: kind-kind
    context:
      cluster: kind-kind
      user: kind-kind
      namespace:
users:
  - name: kind-kind
    user:
      token: yes
      port: 0x1f
      time: 1:30
      when: 2001-12-14
      ratio: .5
      none: ~
      empty: ''
      quoted: "true"
current-context: kind-kind
"""

# Each goes to PyYAML (or is an error there): the line reader must not read them its own way.
UNUSUAL = [
    "a: b # comment\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: [1, 2]\n",
    "a: {b: c}\n",
    "a: |\n  text\n",
    "a: >\n  folded\n",
    "a: multi\n  line\n",
    "a:\tb\n",
    "a: b\r\nc: d\r\n",
    "'quoted key': v\n",
    "? complex\n: v\n",
    "<<: {a: 1}\n",
    "---\na: 1\n",
    "a: 1\n...\n",
    "%YAML 1.1\n---\na: 1\n",
    "1: one\n",
    "true: yes\n",
    "a: 'it''s'\n",
    'a: "tab\\there"\n',
    "a:\n- - nested\n",
    "a: b: c\n",
    "a: 1\n  b: 2\n",
    "a:\n  - x\n  b: y\n",
    "- a\n- b\n",
    "plain\n",
    "",
    "# only a comment\n",
    "a: 'unterminated\n",
    "a: =\n",
    "a: -1\n",
    "a: \x01\n",
    "\ufeffa: b\n",
    "a: caf\u00e9\n",
    "a: \u2028b\n",
    "a: [\n",
]


@pytest.mark.parametrize("text", [EKS, KUBECTL_STYLE, "a: b\n", "a:\n", "a:\n  b:\n    c: d\ne: f\n",
                                  "a:\n- b: c\n  d:\n  - e\n  f: g\n- {}\n- []\nh: i\n",
                                  "a:\n    - x\n    - y\nb: 1\n", "k: v   \n\n\n#c\nl: w\n"])
def test_usual_documents_read_like_pyyaml_without_it(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert yamlio._block_load(text) == reference_load(text)
    monkeypatch.setattr(yamlio, "_Loader", None)  # the line reader alone must have read it
    assert yamlio.load(text) == reference_load(text)


def test_kubectl_scalars_are_typed_as_pyyaml_types_them() -> None:
    user = yamlio.load(KUBECTL_STYLE)["users"][0]["user"]
    assert user == {"token": True, "port": 31, "time": 90, "when": datetime.date(2001, 12, 14), "ratio": 0.5,
                    "none": None, "empty": "", "quoted": "true"}


@pytest.mark.parametrize("text", UNUSUAL)
def test_unusual_documents_go_to_pyyaml(text: str) -> None:
    try:
        expected = reference_load(text)
    except yaml.YAMLError as e:
        with pytest.raises(yaml.YAMLError) as got:
            yamlio.load(text)
        assert type(got.value) is type(e)
        return
    assert yamlio.load(text) == expected


HOSTILE = ["", " ", "a b", " lead", "trail ", "$(rm -rf ~)", "it's", 'say "hi"', "a: b", "a:", ":a", "-", "- a",
           "-a", "--region", "#x", "a #b", "a#b", "?", "? a", "!tag", "&a", "*a", "|", ">", "%x", "@x", "`x",
           "true", "no", "NULL", "~", "1", "0x1f", "1:30", "2001-12-14", ".5", ".inf", "1e3", "=", "<<", "---",
           "...", "a,b", "[a]", "{a}", "x" * 200, "word " * 30, "a\nb", "tab\there", "caf\u00e9", "\u2028",
           "back\\slash", "https://10.0.0.1:6443/path?q=1&r=2", "QUJD" * 600, "y", "Y", "on", "Off"]


@pytest.mark.parametrize("value", HOSTILE)
def test_strings_written_like_pyyaml(value: str) -> None:
    for doc in ({"k": value}, {value: "v"} if value else {"k": [value]}, {"list": [value, {"in": value}]},
                {"deep": {"deeper": {"deepest": value}}}):
        text = yamlio.dump(doc)
        assert text == reference_dump(doc)
        assert yamlio.load(text) == doc


def test_an_entry_document_is_written_without_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = reference_load(EKS)
    expected = reference_dump(doc)
    monkeypatch.setattr(yamlio, "_node", None)
    assert yamlio.dump(doc) == expected


@pytest.mark.parametrize("doc", [{}, {"a": 1.5}, {"a": (1, 2)}, {"a": b"x"}, {"a": datetime.date(2020, 1, 1)},
                                 {1: "int key"}, {"a": [["nested"]]}, {"a": -3, "b": True, "c": None, "d": 0}])
def test_other_values_written_like_pyyaml(doc) -> None:
    try:
        expected = reference_dump(doc)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            yamlio.dump(doc)
        return
    assert yamlio.dump(doc) == expected


def test_shared_values_written_like_pyyaml() -> None:
    shared = {"x": "y"}
    doc = {"a": shared, "b": shared}
    assert yamlio.dump(doc) == reference_dump(doc)


ALPHABET = list("abyn01 :#-'\"{}[],&*!|>%@`?.~=\\/") + ["true", "null", "x" * 90, " #", ": ", "- "]


def _random_value(rng: random.Random, depth: int):
    kind = rng.random()
    if depth > 3 or kind < 0.55:
        pick = rng.random()
        if pick < 0.05:
            return rng.choice([None, True, False, 0, 7, -2])
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))
    if kind < 0.8:
        return {_random_key(rng): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _random_key(rng: random.Random) -> str:
    return rng.choice(["name", "server", "a-b", "a.b/c", "x_1", "y", "on"]) if rng.random() < 0.7 else \
        "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 5)))


def test_random_documents_round_trip_like_pyyaml() -> None:
    rng = random.Random(9)
    for _ in range(3000):
        doc = {_random_key(rng): _random_value(rng, 0) for _ in range(rng.randint(1, 4))}
        text = reference_dump(doc)
        assert yamlio.dump(doc) == text, doc
        assert yamlio.load(text) == reference_load(text), text
        # kubectl's style: sequences indented under their key, values quoted with double quotes
        indented = yaml.dump(doc, Dumper=yaml.SafeDumper, default_flow_style=False, sort_keys=False, indent=4)
        assert yamlio.load(indented) == reference_load(indented), indented


def test_random_lines_read_like_pyyaml() -> None:
    """Lines shuffled together from the shapes above: the line reader agrees or leaves them."""
    rng = random.Random(11)
    lines = (EKS + KUBECTL_STYLE).splitlines() + ["  - x", "- y", "    z: 1", "a:", "  b: c", "#", "", "  ", "- k: v"]
    for _ in range(3000):
        text = "\n".join(rng.choice(lines) for _ in range(rng.randint(1, 8))) + "\n"
        try:
            expected = reference_load(text)
        except yaml.YAMLError:
            with pytest.raises(yaml.YAMLError):
                yamlio.load(text)
            continue
        assert yamlio.load(text) == expected, text
