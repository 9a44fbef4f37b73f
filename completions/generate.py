"""Regenerate the shell completions for kctx from the click app: python completions/generate.py

The scripts call back into `kctx` at completion time, so entry names, tiers and namespaces
complete from the store as it is then. tests/test_completions.py keeps these files current.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHELLS = {"bash": "kctx.bash", "zsh": "_kctx", "fish": "kctx.fish"}


def generate(shell: str) -> str:
    env = {**os.environ, "_KCTX_COMPLETE": f"{shell}_source"}
    code = "import sys; from kctx.main import main; sys.argv[0] = 'kctx'; sys.exit(main())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    # click versions differ in trailing blank lines only; keep the files stable across them.
    return out.stdout.strip() + "\n"


def main() -> int:
    for shell, name in SHELLS.items():
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
            f.write(generate(shell))
    return 0


if __name__ == "__main__":
    sys.exit(main())
