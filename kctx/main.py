"""The `kctx` console entry."""
import sys


def main() -> int:
    from kctx.cli import run
    return run(sys.argv[1:])
