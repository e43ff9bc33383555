"""Building the bank and reading it back: files, manifest.jsonl, the held-out split, ATTRIBUTION.

    <bank>/<class>/<package>/<name>.flac   one recording (audio.py's form)
    <bank>/manifest.jsonl                  one row per recording, sorted by path
    <bank>/packages.json                   per package: version, counts; what makes a rerun a no-op
    <bank>/ATTRIBUTION                     every package, version, licence and copyright holder
    <bank>/build.log                       every file left out, unreadable or not a recording, and why

A package whose rows are all in the manifest and whose files are all present at their recorded
sizes is not fetched again, so a second run reads two small files, stats the recordings and
writes nothing. The split holds out HELDOUT_FRACTION of every class of two or more recordings (at
least one), chosen in the order of sha256(package + "/" + source) and spread over footsteps'
surfaces: fixed by the files themselves, not by a seed or by the order of building.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .audio import SAMPLE_RATE, NotARecording, UnreadableAudio, convert
from .classes import CLASSES
from .copyright import Copyright
from .fetch import AptFetcher, Fetched, Fetcher, FetchError
from .sources import PACKAGES, Label, Package

DEFAULT_PACKAGES: tuple[str, ...] = tuple(PACKAGES)
HELDOUT_FRACTION = 0.18
MANIFEST = "manifest.jsonl"
PACKAGES_FILE = "packages.json"
ATTRIBUTION = "ATTRIBUTION"
LOG = "build.log"
WORK = ".work"  # downloads and unpacked packages while building, when no workdir is given

Row = dict[str, Any]  # one manifest line
State = dict[str, dict[str, Any]]  # packages.json
Log = Callable[[str], None]


def default_bank_dir() -> Path:
    return Path(os.environ.get("TALKIE_SOUNDS") or "~/.cache/talkie/sounds").expanduser()


@dataclass(frozen=True)
class BankRecording:
    """One manifest row; ``file`` is its absolute path."""

    file: Path
    path: str
    cls: str
    surface: str | None
    package: str
    package_version: str
    licence: str
    author: str
    sha256: str
    bytes: int
    duration_s: float
    split: str
    source: str
    title: str | None
    source_rate: int
    source_channels: int
    gain_db: float
    onset_s: float

    @classmethod
    def from_row(cls, bank_dir: Path, row: Row) -> BankRecording:
        fields = {k: v for k, v in row.items() if k != "class"}
        return cls(file=bank_dir / row["path"], cls=row["class"], **fields)


@dataclass
class PackageReport:
    name: str
    version: str = ""
    used: int = 0
    left_out: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0
    up_to_date: bool = False
    seconds: float = 0.0
    error: str = ""

    def line(self) -> str:
        if self.error:
            return f"  {self.name}: FAILED: {self.error}"
        if self.up_to_date:
            return f"  {self.name} {self.version}: up to date, {self.used} recordings"
        out = ", ".join(f"{n} {why}" for why, n in self.left_out.most_common())
        return (
            f"  {self.name} {self.version}: {self.used} recordings, {self.unreadable} unreadable, "
            f"{sum(self.left_out.values())} left out ({out or 'none'}), {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class BankSummary:
    bank_dir: Path
    counts: dict[str, dict[str, int]]  # class -> {"train": n, "heldout": m}
    minutes: dict[str, float]  # class -> minutes of audio
    recordings: int
    size_bytes: int
    files: int
    unreadable: int
    left_out: int
    seconds: float
    packages: tuple[PackageReport, ...]
    changed: bool

    @property
    def classes(self) -> int:
        return len(self.counts)

    @property
    def failed(self) -> list[str]:
        """Packages that could not be fetched or unpacked this run."""
        return [p.name for p in self.packages if p.error]

    def lines(self) -> list[str]:
        out = [f"sound bank {self.bank_dir}"]
        out += [p.line() for p in self.packages]
        out.append(f"  {'class':<14}{'train':>7}{'heldout':>9}{'total':>7}{'minutes':>9}")
        for cls in sorted(self.counts):
            c = self.counts[cls]
            total = c["train"] + c["heldout"]
            out.append(f"  {cls:<14}{c['train']:>7}{c['heldout']:>9}{total:>7}{self.minutes[cls]:>9.1f}")
        out.append(
            f"{self.recordings} recordings in {self.classes} classes; bank {self.size_bytes / 1e6:.1f} MB "
            f"in {self.files} files; {self.unreadable} unreadable and {self.left_out} left out this run "
            f"(see {LOG}); {'built' if self.changed else 'no change'} in {self.seconds:.1f} s"
        )
        return out


# --- reading --------------------------------------------------------------------------------------


def _read_rows(bank_dir: Path) -> list[Row]:
    path = bank_dir / MANIFEST
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def load_manifest(bank_dir: str | Path | None = None) -> list[BankRecording]:
    """Every recording of the bank (default: default_bank_dir()); empty when it has no manifest."""
    bank = Path(bank_dir).expanduser() if bank_dir is not None else default_bank_dir()
    return [BankRecording.from_row(bank, r) for r in _read_rows(bank)]


def recordings(
    bank_dir: str | Path | None = None, cls: str | None = None, split: str | None = None
) -> list[BankRecording]:
    """The bank's recordings of one class and/or split ("train" or "heldout")."""
    if cls is not None and cls not in CLASSES:
        raise ValueError(f"class {cls!r}: expected one of {', '.join(CLASSES)}")
    if split not in (None, "train", "heldout"):
        raise ValueError(f"split {split!r}: expected 'train' or 'heldout'")
    return [
        r
        for r in load_manifest(bank_dir)
        if (cls is None or r.cls == cls) and (split is None or r.split == split)
    ]


# --- the split ------------------------------------------------------------------------------------


def _split_key(row: Row) -> str:
    return hashlib.sha256(f"{row['package']}/{row['source']}".encode()).hexdigest()


def assign_splits(rows: Sequence[Row], fraction: float = HELDOUT_FRACTION) -> None:
    """Set every row's "split": in each class of n >= 2 recordings, max(1, round(fraction * n)) held out.

    The held-out ones are taken in turn from each surface (for footsteps; other classes have one),
    each surface's recordings in hash order: the first of every surface, then the second... so
    a class's held-out files spread over its surfaces. A class of one recording keeps it for training.
    """
    by_class: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_class[str(r["class"])].append(r)
    for members in by_class.values():
        by_surface: dict[str, list[Row]] = defaultdict(list)
        for r in sorted(members, key=_split_key):
            by_surface[str(r.get("surface") or "")].append(r)
        rank = {id(r): i for group in by_surface.values() for i, r in enumerate(group)}
        order = sorted(members, key=lambda r: (rank[id(r)], _split_key(r)))
        held = max(1, round(fraction * len(members))) if len(members) >= 2 else 0
        for i, r in enumerate(order):
            r["split"] = "heldout" if i < held else "train"


# --- building -------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower().replace("/", ".")).strip("-.") or "sound"


class _BuildLog:
    """build.log, opened on the first line so that a no-op run leaves it untouched."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def write(self, *fields: object) -> None:
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write("\t".join(str(f).replace("\t", " ").replace("\n", " ") for f in fields) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _up_to_date(bank: Path, name: str, state: State, rows: Iterable[Row]) -> bool:
    if name not in state:
        return False
    mine = [r for r in rows if r["package"] == name]
    if len(mine) != state[name].get("used"):
        return False
    for r in mine:
        try:
            if (bank / str(r["path"])).stat().st_size != r["bytes"]:
                return False
        except OSError:
            return False
    return True


def _build_package(
    bank: Path, pkg: Package, fetched: Fetched, build_log: _BuildLog, report: PackageReport
) -> tuple[list[Row], str]:
    copyright = Copyright.of_package(fetched.root, pkg.name)
    names: set[str] = set()
    rows: list[Row] = []
    for member in pkg.find(fetched.root):
        where = f"{member.source} ({member.title})" if member.title else member.source
        label = pkg.classify(member)
        if not isinstance(label, Label):
            report.left_out[label] += 1
            build_log.write("left out", pkg.name, where, label)
            continue
        try:
            converted = convert(member.read(), member.suffix)
        except (UnreadableAudio, ValueError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
            report.unreadable += 1
            build_log.write("unreadable", pkg.name, where, e)
            continue
        except NotARecording as e:
            report.left_out["not a recording"] += 1
            build_log.write("left out", pkg.name, where, f"not a recording: {e}")
            continue
        stem = _slug(member.key)
        if "#" in member.source:  # a catalogue's entries are numbered; titles may repeat
            stem = f"{int(member.source.rsplit('#', 1)[1]):02d}-{stem}"
        name, n = stem, 1
        while name in names:  # e.g. Wesnoth's mace.ogg and mace.wav
            n += 1
            name = f"{stem}-{n}"
        names.add(name)
        rel = f"{label.cls}/{pkg.name}/{name}.flac"
        _write_atomic(bank / rel, converted.flac)
        grant = copyright.grant(pkg.copyright_path(member)) if pkg.copyright_path else None
        rows.append(
            {
                "path": rel,
                "class": label.cls,
                "surface": label.surface,
                "package": pkg.name,
                "package_version": fetched.version,
                "licence": member.licence or (grant.licence if grant else pkg.licence),
                "author": member.author or (grant.author if grant else "; ".join(pkg.holders)),
                "sha256": hashlib.sha256(converted.flac).hexdigest(),
                "bytes": len(converted.flac),
                "duration_s": converted.duration_s,
                "split": "",
                "source": member.source,
                "title": member.title,
                "source_rate": converted.source_rate,
                "source_channels": converted.source_channels,
                "gain_db": converted.gain_db,
                "onset_s": converted.onset_s,
            }
        )
    report.used = len(rows)
    return rows, copyright.source


def _attribution(rows: Sequence[Row], state: State) -> str:
    out = [
        "Talkie's sound bank: recordings taken from Debian packages, unpacked without installing them,",
        f"converted to {SAMPLE_RATE // 1000} kHz mono FLAC and peak-normalised. manifest.jsonl names each",
        "file's licence and authors; this file gives them by package. The licences' texts are in each",
        "package's copyright file (/usr/share/doc/<package>/copyright) and /usr/share/common-licenses.",
        "",
    ]
    by_package: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_package[str(r["package"])].append(r)
    for name in sorted(by_package):
        mine = by_package[name]
        info = state.get(name, {})
        licences = Counter(str(r["licence"]) for r in mine)
        out.append(f"== {name} {mine[0]['package_version']} ==")
        if info.get("upstream"):
            out.append(f"Upstream: {info['upstream']}")
        out.append(f"Recordings: {len(mine)}")
        out.append("Licences: " + ", ".join(f"{lic} ({n})" for lic, n in sorted(licences.items())))
        if info.get("note"):
            out.append(f"Note: {info['note']}")
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for r in mine:
            groups[(str(r["licence"]), str(r["author"]))].append(str(r["path"]))
        for (lic, author), paths in sorted(groups.items()):
            out.append(f"-- {lic}: {author or 'holders not named'}")
            out += [f"     {p}" for p in sorted(paths)]
        out.append("")
    return "\n".join(out)


def _summary(
    bank: Path, rows: Sequence[Row], reports: Sequence[PackageReport], seconds: float, changed: bool
) -> BankSummary:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"train": 0, "heldout": 0})
    minutes: dict[str, float] = defaultdict(float)
    for r in rows:
        counts[str(r["class"])][str(r["split"])] += 1
        minutes[str(r["class"])] += float(r["duration_s"]) / 60.0
    files = [p for p in bank.rglob("*") if p.is_file() and WORK not in p.relative_to(bank).parts]
    return BankSummary(
        bank_dir=bank,
        counts=dict(counts),
        minutes=dict(minutes),
        recordings=len(rows),
        size_bytes=sum(p.stat().st_size for p in files),
        files=len(files),
        unreadable=sum(r.unreadable for r in reports),
        left_out=sum(sum(r.left_out.values()) for r in reports),
        seconds=seconds,
        packages=tuple(reports),
        changed=changed,
    )


def build_bank(
    out_dir: str | Path | None = None,
    packages: Sequence[str] | None = None,
    workdir: str | Path | None = None,
    log: Log = print,
    *,
    fetcher: Fetcher | None = None,
    force: bool = False,
) -> BankSummary:
    """Build or bring up to date the bank in ``out_dir`` (default: default_bank_dir()) and log its summary.

    ``packages``: names from sources.PACKAGES (default: all). ``workdir``: where to keep downloads
    and unpacked packages for later runs (default: a folder in the bank, removed package by package).
    ``fetcher``: where packages come from (default: AptFetcher, made only when a package is fetched).
    ``force``: rebuild packages that are up to date.
    """
    start = time.monotonic()
    bank = Path(out_dir).expanduser() if out_dir is not None else default_bank_dir()
    names = list(packages) if packages else list(DEFAULT_PACKAGES)
    unknown = [n for n in names if n not in PACKAGES]
    if unknown:
        raise ValueError(f"unknown package(s) {', '.join(unknown)}: expected some of {', '.join(PACKAGES)}")
    bank.mkdir(parents=True, exist_ok=True)
    rows = _read_rows(bank)
    state_path = bank / PACKAGES_FILE
    state: State = json.loads(state_path.read_text("utf-8")) if state_path.is_file() else {}
    keep_work = workdir is not None
    work = Path(workdir).expanduser() if workdir is not None else bank / WORK
    build_log = _BuildLog(bank / LOG)
    reports: list[PackageReport] = []
    changed = False
    try:
        for name in names:
            pkg = PACKAGES[name]
            if not force and _up_to_date(bank, name, state, rows):
                reports.append(
                    PackageReport(
                        name, str(state[name]["version"]), int(state[name]["used"]), up_to_date=True
                    )
                )
                continue
            t0 = time.monotonic()
            log(f"{name}: fetching")
            try:
                if fetcher is None:
                    fetcher = AptFetcher()
                fetched = fetcher.fetch(name, work, pkg.members)
            except FetchError as e:
                build_log.write(time.strftime("%Y-%m-%dT%H:%M:%S"), "failed", name, e)
                reports.append(PackageReport(name, error=str(e)))
                log(reports[-1].line().strip())
                continue
            build_log.write(time.strftime("%Y-%m-%dT%H:%M:%S"), "build", name, fetched.version)
            report = PackageReport(name, fetched.version)
            log(f"{name} {fetched.version}: converting")
            new_rows, upstream = _build_package(bank, pkg, fetched, build_log, report)
            kept = {r["path"] for r in new_rows}
            for r in rows:
                if r["package"] == name and r["path"] not in kept:
                    (bank / r["path"]).unlink(missing_ok=True)
            rows = [r for r in rows if r["package"] != name] + new_rows
            state[name] = {
                "version": fetched.version,
                "used": report.used,
                "unreadable": report.unreadable,
                "left_out": dict(report.left_out),
                "upstream": upstream,
                "note": pkg.note,
            }
            _save(bank, rows, state)  # after each package, so a later failure keeps what was built
            if not keep_work:
                shutil.rmtree(work, ignore_errors=True)
            report.seconds = time.monotonic() - t0
            reports.append(report)
            log(report.line().strip())
            changed = True
    finally:
        build_log.close()
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    summary = _summary(bank, rows, reports, time.monotonic() - start, changed)
    for line in summary.lines():
        log(line)
    return summary


def _save(bank: Path, rows: list[Row], state: State) -> None:
    rows.sort(key=lambda r: str(r["path"]))
    assign_splits(rows)
    _write_atomic(bank / MANIFEST, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    _write_atomic(bank / PACKAGES_FILE, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())
    _write_atomic(bank / ATTRIBUTION, _attribution(rows, state).encode())
