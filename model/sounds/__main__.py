"""python -m model.sounds [--out DIR] [--packages NAME ...]: build the sound bank of real recordings."""

from __future__ import annotations

import argparse
import sys

from .bank import DEFAULT_PACKAGES, build_bank, default_bank_dir
from .fetch import FetchError


def parse_args(argv: list[str] | None = None, prog: str = "python -m model.sounds") -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    p.add_argument(
        "--out", default=None, help=f"the bank's folder (default: $TALKIE_SOUNDS or {default_bank_dir()})"
    )
    p.add_argument(
        "--packages",
        nargs="+",
        choices=DEFAULT_PACKAGES,
        default=None,
        metavar="NAME",
        help=f"Debian packages to take recordings from (default: all of {', '.join(DEFAULT_PACKAGES)})",
    )
    p.add_argument(
        "--workdir",
        default=None,
        help="keep downloaded and unpacked packages here for later runs "
        "(default: a temporary folder in the bank, removed after each package)",
    )
    p.add_argument("--force", action="store_true", help="rebuild packages that are already up to date")
    return p.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "python -m model.sounds") -> int:
    try:
        a = parse_args(argv, prog)
    except SystemExit as done:  # --help, or a bad flag (argparse has printed why)
        return done.code if isinstance(done.code, int) else 2
    try:
        summary = build_bank(a.out, a.packages, a.workdir, log=print, force=a.force)
    except (FetchError, ValueError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    if summary.failed:
        print(f"{prog}: could not fetch {', '.join(summary.failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
