"""The ``talkie`` command: one subcommand per job or tool module."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module with main(argv, prog), one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "scenes": ("pipelines.scenes", "cut films into scenes: tables and CSV + EDL shot lists"),
    "featurize": (
        "pipelines.featurize",
        "turn films with sound into training shards (frames, log-mel, captions)",
    ),
    "restore": (
        "pipelines.restore",
        "give silent films a generated soundtrack: FLAC stems and tracks, MKV videos, tables",
    ),
    "report": (
        "pipelines.report",
        "write the review report (HTML pages, pictures, browser previews) of an output's run",
    ),
    "choose": (
        "pipelines.choose",
        "a new cut of a film with other takes for some scenes, from its stems (no model)",
    ),
    "inspect": (
        "pipelines.inspect",
        "print an output's films (status, duration, scenes, takes, loudness) and failures",
    ),
    "plan": (
        "pipelines.plan",
        "before a restore run: a manifest's films, scenes, audio-hours, and wall time and cost on a target",
    ),
    "sounds": (
        "model.sounds.__main__",
        "build the bank of real recordings from Debian packages ($TALKIE_SOUNDS)",
    ),
}


def usage() -> str:
    lines = ["usage: talkie COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", "talkie COMMAND --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"talkie: unknown command {command!r}; commands are {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return module.main(rest, prog=f"talkie {command}")


if __name__ == "__main__":
    sys.exit(main())
