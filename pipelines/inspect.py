"""``talkie inspect OUTPUT``: what an output holds, from its Parquet tables, as a table or JSON.

    talkie inspect OUTPUT [--run_id R] [--json]

One line per film (newest run per film, or run R's films): status, duration, scenes, takes,
integrated loudness, failures and the stages they happened in, the cut key and the run; then
every failure with its stage, error and input. Failures that a later run got past (the film has
a newer ``done`` row) are not listed. ``--json`` prints the same as one JSON object for scripts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from typing import Any

from media.storage import redact
from transforms.files import absolute_uri
from transforms.tables import read_table, validate_run_id


def inspect_output(output: str, run_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """{"films": [...], "failures": [...]}: one dict per film and per failure (module docstring)."""
    films = read_table(output, "films", run_id=run_id).to_pylist()
    takes = read_table(output, "takes", run_id=run_id).to_pylist()
    failures = read_table(output, "failures", run_id=run_id).to_pylist()
    newest_done = {f["film_id"]: f["run_id"] for f in films if f["status"] == "done"}
    failures = [
        f
        for f in failures
        if not (f.get("film_id") in newest_done and newest_done[f["film_id"]] > f["run_id"])
    ]
    takes_by_film: dict[str, int] = defaultdict(int)
    for take in takes:
        takes_by_film[take["film_id"]] += 1
    stages_by_film: dict[str, list[str]] = defaultdict(list)
    for failure in failures:
        if failure.get("film_id"):
            stages_by_film[failure["film_id"]].append(failure["stage"])
    film_rows = [
        {
            "film_id": f["film_id"],
            "status": f["status"],
            "duration_s": f["duration_s"],
            "scenes": f["scenes"],
            "takes": takes_by_film[f["film_id"]],
            "loudness_lufs": f["loudness_lufs"],
            "failures": len(stages_by_film[f["film_id"]]),
            "failure_stages": sorted(set(stages_by_film[f["film_id"]])),
            "cut_key": f["cut_key"],
            "run_id": f["run_id"],
            "flac_uri": f["flac_uri"],
            "video_uri": f["video_uri"],
        }
        for f in films
    ]
    failure_rows = [
        {
            "film_id": f.get("film_id"),
            "stage": f["stage"],
            "error_type": f["error_type"],
            "error": f["error"],
            "uri": f["uri"],
            "run_id": f["run_id"],
        }
        for f in sorted(failures, key=lambda f: (f.get("film_id") or "", f["uri"], f["stage"]))
    ]
    return {"films": film_rows, "failures": failure_rows}


def format_table(report: dict[str, list[dict[str, Any]]]) -> str:
    """The report as aligned text columns, films first, then failures."""
    header = ("film", "status", "duration", "scenes", "takes", "loudness", "failures", "cut key", "run")
    rows = [header] + [
        (
            f["film_id"],
            f["status"],
            _value(f["duration_s"], "{:.3f} s"),
            _value(f["scenes"], "{}"),
            str(f["takes"]),
            _value(f["loudness_lufs"], "{:.2f} LUFS"),
            f"{f['failures']} ({', '.join(f['failure_stages'])})" if f["failures"] else "0",
            f["cut_key"] or "-",
            f["run_id"],
        )
        for f in report["films"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    done = sum(f["status"] == "done" for f in report["films"])
    lines.append(f"{len(report['films'])} films, {done} done; {len(report['failures'])} failures")
    if report["failures"]:
        lines += ["", "failures:"]
        lines += [
            f"  {f['film_id'] or '-'}  {f['stage']}  {f['error_type']}: {f['error']}  "
            f"({f['uri']}, run {f['run_id']})"
            for f in report["failures"]
        ]
    return "\n".join(lines)


def _value(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value)


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.inspect") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Show the films, takes and failures an output holds."
    )
    parser.add_argument(
        "output", help="The output folder or URI a restore run wrote (e.g. out/demo, gs://bucket/talkie)."
    )
    parser.add_argument(
        "--run_id", default=None, help="Only this run's rows (default: the newest run of each film)."
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    args = parser.parse_args(argv)
    try:
        run_id = validate_run_id(args.run_id) if args.run_id else None
    except ValueError as exc:
        print(f"{prog}: --{exc}", file=sys.stderr)
        return 2
    report = inspect_output(absolute_uri(args.output), run_id)
    if not report["films"] and not report["failures"]:
        print(
            f"{prog}: {redact(args.output)} holds no films or failures tables (is it a Talkie output?)",
            file=sys.stderr,
        )
        return 1
    text = json.dumps(report, indent=2) if args.json else format_table(report)
    print(redact(text))  # the films' URIs hold the output's, which may carry credentials
    return 0


if __name__ == "__main__":
    sys.exit(main())
