"""Where a package keeps its sounds: loose files, a zip (Quake-style .pk3 included), or OpenTTD's .cat.

Each yields ``Member``s: a recording's ``source`` (its path in the package, with ``!member`` inside
a zip and ``#index`` inside a catalogue), the ``key`` that the package's class rules match, and a
``read`` that returns its bytes only when the recording is used.
"""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

AUDIO_SUFFIXES = (".ogg", ".wav", ".flac")


@dataclass(frozen=True)
class Member:
    source: str  # path inside the extracted package, e.g. "usr/share/.../0snd.pk3!sound/doors/door1-open.ogg"
    key: str  # what the class rules match: a path below the sound folder without suffix, or a title
    suffix: str  # ".ogg", ".wav" or ".flac": how to decode it
    read: Callable[[], bytes]
    title: str | None = None  # a catalogue's own description of the sound
    licence: str | None = None  # a licence that the container states for this one sound
    author: str | None = None  # its credit line, where the container gives one


def _key(path: str, suffix: str) -> str:
    return path[: -len(suffix)] if suffix and path.lower().endswith(suffix) else path


def _suffix(name: str) -> str:
    lower = name.lower()
    return next((s for s in AUDIO_SUFFIXES if lower.endswith(s)), "")


def loose_files(root: Path, folder: str) -> Iterator[Member]:
    """Audio files below ``root/folder``; keys are relative to that folder."""
    base = root / folder
    if not base.is_dir():
        return
    for path in sorted(base.rglob("*")):
        suffix = _suffix(path.name)
        if not suffix or not path.is_file():
            continue
        rel = path.relative_to(base).as_posix()
        yield Member(
            source=path.relative_to(root).as_posix(),
            key=_key(rel, suffix),
            suffix=suffix,
            read=path.read_bytes,
        )


def zip_members(root: Path, archive: str, prefix: str) -> Iterator[Member]:
    """Audio members of the zip ``root/archive`` whose names start with ``prefix`` (dropped from keys)."""
    path = root / archive
    if not path.is_file():
        return
    z = zipfile.ZipFile(path)  # kept open by the readers below; 0ad's zip has a large central directory
    names = sorted(n for n in z.namelist() if n.startswith(prefix) and _suffix(n))

    def reader(name: str) -> Callable[[], bytes]:
        return lambda: z.read(name)  # a damaged member raises zipfile.BadZipFile (bad CRC) here

    for name in names:
        suffix = _suffix(name)
        yield Member(
            source=f"{archive}!{name}",
            key=_key(name[len(prefix) :], suffix),
            suffix=suffix,
            read=reader(name),
        )


# OpenTTD's sample catalogue, as written by catcodec (https://github.com/OpenTTD/catcodec, sample.cpp)
# and read by OpenTTD's sound.cpp: a table of (offset | 0x80000000, size) little-endian uint32 pairs,
# the first offset also giving the table's length; at each offset a uint8 length, a NUL-terminated
# description, then ``size`` bytes of RIFF WAVE. OpenSFX writes each sound's credit into the
# description: '"Title". Original "x.wav" by "y". Edited by "z". License: Creative Commons ....'
_NEW_FORMAT = 0x80000000
_LICENCES = (
    (re.compile(r"attribution-sharealike 3\.0", re.I), "CC-BY-SA-3.0"),
    (re.compile(r"attribution 3\.0", re.I), "CC-BY-3.0"),
    (re.compile(r"zero 1\.0", re.I), "CC0-1.0"),
)


@dataclass(frozen=True)
class CatEntry:
    index: int
    description: str
    wave: bytes


def read_cat(data: bytes) -> list[CatEntry]:
    """The entries of an OpenTTD .cat catalogue; ValueError when its table or an entry is cut short."""
    if len(data) < 8:
        raise ValueError("catalogue shorter than one table entry")
    first = struct.unpack_from("<I", data, 0)[0]
    if not first & _NEW_FORMAT:
        raise ValueError("an original Transport Tycoon catalogue (not OpenSFX's format)")
    count = (first & ~_NEW_FORMAT) // 8
    if count * 8 > len(data):
        raise ValueError(f"table of {count} entries runs past the end of the file")
    entries = []
    for i in range(count):
        offset, size = struct.unpack_from("<II", data, 8 * i)
        offset &= ~_NEW_FORMAT
        if offset >= len(data):
            raise ValueError(f"entry {i} starts past the end of the file")
        name_len = data[offset]
        start = offset + 1 + name_len
        if start + size > len(data):
            raise ValueError(f"entry {i} runs past the end of the file")
        description = data[offset + 1 : start].rstrip(b"\0").decode("utf-8", "replace")
        entries.append(CatEntry(i, description, data[start : start + size]))
    return entries


def parse_credit(description: str) -> tuple[str, str | None, str | None]:
    """(title, licence, credit) from an OpenSFX description; licence None when it names none we know."""
    m = re.match(r'\s*"([^"]*)"\.?\s*(.*)$', description, re.S)
    title, rest = (m.group(1), m.group(2)) if m else (description, "")
    licence_at = rest.find("License:")
    credit = (rest[:licence_at] if licence_at >= 0 else rest).strip() or None
    stated = rest[licence_at:] if licence_at >= 0 else ""
    licence = next((spdx for pattern, spdx in _LICENCES if pattern.search(stated)), None)
    return title, licence, credit


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def cat_entries(root: Path, catalogue: str) -> Iterator[Member]:
    """The sounds of an OpenTTD .cat; keys are their titles, lower case."""
    path = root / catalogue
    if not path.is_file():
        return
    for entry in read_cat(path.read_bytes()):
        title, licence, credit = parse_credit(entry.description)
        yield Member(
            source=f"{catalogue}#{entry.index:02d}",
            key=title.lower(),
            suffix=".wav",
            read=_constant(entry.wave),
            title=title,
            licence=licence,
            author=credit,
        )
