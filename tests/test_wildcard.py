"""kctx.wildcard matches as fnmatch.fnmatchcase does, without importing re for * and ?."""

import random
import subprocess
import sys
from fnmatch import fnmatchcase

from kctx.wildcard import match


def test_matches_like_fnmatchcase_on_random_patterns() -> None:
    rng = random.Random(5)
    alphabet = "ab*?-."
    for _ in range(20000):
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        text = "".join(rng.choice("ab?*-.") for _ in range(rng.randint(0, 7)))
        assert match(pattern, text) == fnmatchcase(text, pattern), (pattern, text)


def test_classes_and_usual_patterns() -> None:
    for pattern, text in [("prod-*", "prod-eu"), ("*-prod", "eu-prod"), ("kube-[sp]*", "kube-system"),
                          ("team-?", "team-a"), ("team-?", "team-ab"), ("*", ""), ("", ""), ("a*b*c", "aXbYc")]:
        assert match(pattern, text) == fnmatchcase(text, pattern), (pattern, text)


def test_no_re_for_stars_and_question_marks() -> None:
    code = "import sys; from kctx.wildcard import match; match('prod-*', 'prod-eu'); match('a?', 'ab'); " \
           "print('re' in sys.modules)"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}; {code}"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
