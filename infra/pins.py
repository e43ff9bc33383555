"""The worker image's Python pins: setup.py's requirements, and the lock the image installs.

    python -m infra.pins --write     # infra/worker-requirements.lock from this virtualenv
    python -m infra.pins --check     # exit 1 when the lock no longer satisfies setup.py

The lock holds the exact versions installed here, where the test suite runs, of everything
setup.py's ``REQUIRED`` pulls in (extras included), except torch and what only torch needs:
the image's CUDA PyTorch base provides those, and pinning them to this machine's CPU build
would fight the base's torch.
"""

from __future__ import annotations

import argparse
import ast
import sys
from importlib import metadata
from pathlib import Path
from typing import cast

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "setup.py"
LOCK = REPO / "infra" / "worker-requirements.lock"
FROM_BASE_IMAGE = "torch"  # installed by the CUDA PyTorch base image, not by the lock


def setup_requirements(setup_py: Path = SETUP) -> list[str]:
    """setup.py's ``REQUIRED`` list, read without running setup.py."""
    tree = ast.parse(setup_py.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "REQUIRED" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise ValueError(f"{setup_py} has no REQUIRED = [...] list")


def read_lock(lock: Path = LOCK) -> dict[str, Version]:
    """The lock's ``name==version`` lines by canonical name (comments and blank lines skipped)."""
    pins: dict[str, Version] = {}
    for number, line in enumerate(lock.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise ValueError(f"{lock}:{number}: {line!r} is not an exact name==version pin")
        pins[canonicalize_name(name.strip())] = Version(version.strip())
    return pins


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    # Every field of packaging's Environment is a str; Marker.evaluate wants a plain str mapping.
    environments = [
        {**cast("dict[str, str]", default_environment()), "extra": extra} for extra in (extras or {""})
    ]
    return any(requirement.marker.evaluate(env) for env in environments)


def installed_closure(requirements: list[str], *, skip: str = FROM_BASE_IMAGE) -> dict[str, str]:
    """Installed versions of ``requirements`` and everything they need here, by canonical name,
    leaving out ``skip`` and what is reached only through it."""
    wanted: dict[str, set[str]] = {}
    queue = [Requirement(r) for r in requirements]
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(skip):
            continue
        extras = set(requirement.extras)
        if name in wanted and extras <= wanted[name]:
            continue
        wanted[name] = wanted.get(name, set()) | extras
        for dependency in metadata.requires(requirement.name) or []:
            parsed = Requirement(dependency)
            if _applies(parsed, wanted[name]):
                queue.append(parsed)
    return {name: metadata.version(name) for name in sorted(wanted)}


def lock_problems(requirements: list[str], pins: dict[str, Version]) -> list[str]:
    """How ``pins`` fails setup.py's ``requirements``: a requirement missing from the lock, or
    pinned to a version its specifier does not admit. Torch comes from the base image."""
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == FROM_BASE_IMAGE:
            if name in pins:
                problems.append(f"{name} is pinned in the lock, but the CUDA base image provides it")
            continue
        if name not in pins:
            problems.append(f"{text!r} is in setup.py but not in the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"the lock pins {name}=={pins[name]}, which setup.py's {text!r} does not admit")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.pins", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--write", action="store_true", help=f"write {LOCK.relative_to(REPO)} from this environment"
    )
    action.add_argument("--check", action="store_true", help="check the lock against setup.py")
    args = parser.parse_args(argv)
    requirements = setup_requirements()
    if args.write:
        pins = installed_closure(requirements)
        header = (
            "# The worker image's pins (infra/Dockerfile): the versions the test suite runs with, of\n"
            "# everything setup.py's REQUIRED needs but torch (the CUDA base image's). Regenerate with\n"
            "# `python -m infra.pins --write` after changing setup.py; tests/infra checks it.\n"
        )
        LOCK.write_text(header + "".join(f"{name}=={version}\n" for name, version in pins.items()))
        print(f"{LOCK.relative_to(REPO)}: {len(pins)} pins")
        return 0
    problems = lock_problems(requirements, read_lock())
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
