"""A package's licence and copyright holders per file, from its Debian copyright file.

Machine-readable copyright files follow DEP-5 (https://www.debian.org/doc/packaging-manuals/
copyright-format/1.0/): paragraphs of ``Field: value`` lines, continuation lines indented; a
``Files`` paragraph names globs in which ``*`` matches any run of characters, ``/`` included, and
``?`` one character; the last paragraph that matches a file gives its ``Copyright`` and ``License``.
A file that is not in that format (Wesnoth's) yields no paragraphs, and the package's rules give
the licence instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Grant:
    licence: str
    holders: tuple[str, ...]

    @property
    def author(self) -> str:
        return "; ".join(self.holders)


@dataclass(frozen=True)
class _Paragraph:
    patterns: tuple[re.Pattern[str], ...]
    grant: Grant


def _glob(pattern: str) -> re.Pattern[str]:
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z")


def _paragraphs(text: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        name = ""
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t"):
                if name:
                    fields[name] += "\n" + line.strip()
            elif ":" in line:
                name, value = (part.strip() for part in line.split(":", 1))
                fields[name] = value
        if fields:
            out.append(fields)
    return out


class Copyright:
    """The Files paragraphs of one DEP-5 copyright file, and its header's Source."""

    def __init__(self, text: str) -> None:
        blocks = _paragraphs(text)
        self.machine_readable = bool(blocks) and "Format" in blocks[0]
        self.source = blocks[0].get("Source", "").strip() if self.machine_readable else ""
        self._paragraphs: list[_Paragraph] = []
        if not self.machine_readable:
            return
        for b in blocks:
            if "Files" not in b or "License" not in b:
                continue
            licence = b["License"].splitlines()[0].strip()  # the short name; the full text follows it
            holders = tuple(h.strip() for h in b.get("Copyright", "").splitlines() if h.strip())
            globs = tuple(_glob(g) for g in b["Files"].split())
            self._paragraphs.append(_Paragraph(globs, Grant(licence, holders)))

    @classmethod
    def of_package(cls, root: Path, package: str) -> Copyright:
        path = root / "usr/share/doc" / package / "copyright"
        return cls(path.read_text("utf-8", "replace") if path.is_file() else "")

    def grant(self, path: str) -> Grant | None:
        """The last paragraph matching ``path`` (a path as the copyright file names it), or None."""
        found = None
        for p in self._paragraphs:
            if any(g.match(path) for g in p.patterns):
                found = p.grant
        return found
