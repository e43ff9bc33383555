"""Getting a Debian package's files without installing it: ``apt-get download`` then ``dpkg-deb``.

The bank takes recordings from nowhere else. ``apt-get update`` runs first only where the package
lists are missing or ``apt-get download`` cannot find the package. A package with member patterns
is unpacked in part (``dpkg-deb --fsys-tarfile | tar -x --wildcards``), so that of 0ad-data's
3.3 GB only public.zip lands on disk, and of Wesnoth's data only its sound folders. Tests hand
``build_bank`` a LocalFetcher over folders they wrote, so no test downloads.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_APT_LISTS = Path("/var/lib/apt/lists")
_NOT_FOUND = ("Unable to locate package", "Can't select candidate", "has no installation candidate")


@dataclass(frozen=True)
class Fetched:
    root: Path  # the unpacked package: its files at the paths they would have when installed
    version: str


class Fetcher(Protocol):
    def fetch(self, package: str, workdir: Path, members: Sequence[str]) -> Fetched:
        """Unpack ``package`` (only ``members`` when given) below ``workdir``."""
        ...


class FetchError(RuntimeError):
    pass


def _run(cmd: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)


def _lists_missing() -> bool:
    return not any(_APT_LISTS.glob("*_Packages*"))


class AptFetcher:
    """Debian's archive, through the machine's apt configuration."""

    def __init__(self) -> None:
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            raise FetchError(
                "the sound bank needs apt-get and dpkg-deb: it takes recordings from Debian packages"
            )
        self._updated = False

    def _update(self) -> None:
        if self._updated:
            return
        self._updated = True
        r = _run(["apt-get", "update", "-qq"])
        if r.returncode != 0:
            raise FetchError(f"apt-get update failed (run it as root): {r.stderr.strip()[-400:]}")

    def _download(self, package: str, workdir: Path) -> Path:
        debs = sorted(workdir.glob(f"{package}_*.deb"))
        if debs:
            return debs[-1]  # a kept workdir: downloaded before
        if _lists_missing():
            self._update()
        r = _run(["apt-get", "download", package], cwd=workdir)
        if r.returncode != 0 and any(s in r.stderr for s in _NOT_FOUND) and not self._updated:
            self._update()
            r = _run(["apt-get", "download", package], cwd=workdir)
        debs = sorted(workdir.glob(f"{package}_*.deb"))
        if r.returncode != 0 or not debs:
            raise FetchError(f"apt-get download {package} failed: {r.stderr.strip()[-400:]}")
        return debs[-1]

    def fetch(self, package: str, workdir: Path, members: Sequence[str]) -> Fetched:
        workdir.mkdir(parents=True, exist_ok=True)
        deb = self._download(package, workdir)
        r = _run(["dpkg-deb", "-f", str(deb), "Version"])
        if r.returncode != 0:
            raise FetchError(f"dpkg-deb -f {deb.name}: {r.stderr.strip()}")
        version = r.stdout.strip()
        root = workdir / package
        stamp = root / ".unpacked"
        if not stamp.exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            if members:
                patterns = " ".join(shlex.quote(m) for m in members)
                deb_q, root_q = shlex.quote(str(deb)), shlex.quote(str(root))
                cmd = f"dpkg-deb --fsys-tarfile {deb_q} | tar -x -C {root_q} --wildcards {patterns}"
                r = subprocess.run(
                    ["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, check=False
                )
            else:
                r = _run(["dpkg-deb", "-x", str(deb), str(root)])
            if r.returncode != 0:
                raise FetchError(f"unpacking {deb.name} failed: {r.stderr.strip()[-400:]}")
            stamp.write_text(version)
        return Fetched(root, version)


class LocalFetcher:
    """Packages already unpacked in local folders: {name: (version, root)}. For tests and offline runs."""

    def __init__(self, packages: Mapping[str, tuple[str, Path]]) -> None:
        self.packages = dict(packages)
        self.calls: list[str] = []

    def fetch(self, package: str, workdir: Path, members: Sequence[str]) -> Fetched:
        self.calls.append(package)
        if package not in self.packages:
            raise FetchError(f"{package}: not among the local packages")
        version, root = self.packages[package]
        return Fetched(Path(root), version)
