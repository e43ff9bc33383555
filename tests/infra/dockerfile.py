"""A small static reader of Dockerfiles: instructions with continuation lines joined, build stages,
and ARG defaults substituted into FROM (enough to check infra/Dockerfile without building it)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    text: str  # everything after the keyword, continuation lines joined
    line: int

    def words(self) -> list[str]:
        return shlex.split(self.text)

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form ENTRYPOINT/CMD, or None for the shell form."""
        try:
            value = json.loads(self.text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) else None


@dataclass
class Stage:
    name: str | None
    base: str  # image reference with global ARGs substituted, or an earlier stage's name
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def instructions(path: Path) -> list[Instruction]:
    found, pending, start = [], "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = pending + line
        pending = ""
        keyword, _, rest = whole.partition(" ")
        found.append(Instruction(keyword.upper(), rest.strip(), start))
    if pending:
        raise ValueError(f"{path}: the instruction at line {start} ends in a line continuation")
    return found


def global_args(parsed: list[Instruction]) -> dict[str, str | None]:
    """ARGs declared before the first FROM, with their defaults (None when there is none)."""
    values = {}
    for instruction in parsed:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, sep, default = instruction.text.partition("=")
            values[name.strip()] = default.strip() if sep else None
    return values


def stages(parsed: list[Instruction]) -> list[Stage]:
    args = global_args(parsed)
    result: list[Stage] = []
    for instruction in parsed:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.words() if not w.startswith("--platform")]
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2]) or m[0], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(name=name, base=base))
        elif result:
            result[-1].instructions.append(instruction)
    return result


def lineage(all_stages: list[Stage], stage: Stage) -> list[Stage]:
    """``stage`` and the stages it is built FROM, nearest first."""
    by_name = {s.name: s for s in all_stages if s.name}
    chain = [stage]
    while chain[-1].base in by_name:
        chain.append(by_name[chain[-1].base])
    return chain


def effective(all_stages: list[Stage], stage: Stage, keyword: str) -> Instruction | None:
    """The instruction ``keyword`` (e.g. ENTRYPOINT) in force in ``stage``: its own last one, else
    its parent stage's."""
    for each in lineage(all_stages, stage):
        own = each.all(keyword)
        if own:
            return own[-1]
    return None
