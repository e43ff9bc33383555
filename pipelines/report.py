"""``talkie report OUTPUT``: the review report of a run already in an output.

    talkie report OUTPUT [--run_id R]

Writes, for run R (default: the newest restore or choose run the ``runs`` table records), each
film's page and pictures and, where missing, its browser preview, then the run's index:

    OUTPUT/report/R/index.html, OUTPUT/report/R/<film_id>/index.html + scene-NNNNN.png
    OUTPUT/films/<film_id>/<cut_key>.preview.mp4

The restore job writes the same report itself; this command rebuilds it (e.g. for outputs made
before the report existed). Films are done one at a time, so memory is one film's.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

from media.storage import redact
from transforms.files import absolute_uri
from transforms.tables import read_table, validate_run_id

REPORTED_JOBS = ("restore", "choose")


def newest_run(output: str) -> str | None:
    """The newest restore or choose run recorded in ``output``'s runs table."""
    runs = [r["run_id"] for r in read_table(output, "runs").to_pylist() if r["job"] in REPORTED_JOBS]
    return max(runs) if runs else None


def write_report(output: str, run_id: str) -> tuple[str, list[str]]:
    """(the index URI, the films that failed to report with why) for run ``run_id``."""
    from transforms.report import report_film, write_run_index

    films = read_table(output, "films", run_id=run_id).to_pylist()
    rows: dict[str, dict[str, list]] = defaultdict(lambda: {"scenes": [], "takes": [], "failures": []})
    for table in ("scenes", "takes", "failures"):
        for row in read_table(output, table, run_id=run_id).to_pylist():
            if row.get("film_id"):
                rows[row["film_id"]][table].append(row)
    problems = []
    for film in films:
        own = rows[film["film_id"]]
        try:
            report_film(output, run_id, film, own["scenes"], own["takes"], own["failures"])
        except Exception as exc:  # one film's report must not stop the others'
            problems.append(f"{film['film_id']}: {type(exc).__name__}: {exc}")
    return write_run_index(output, run_id), problems


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.report") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Write the review report of a run in an output.")
    parser.add_argument("output", help="The output folder or URI a restore run wrote.")
    parser.add_argument(
        "--run_id", default=None, help="The run to report (default: the newest restore or choose run)."
    )
    args = parser.parse_args(argv)
    output = absolute_uri(args.output)
    try:
        run_id = validate_run_id(args.run_id) if args.run_id else newest_run(output)
    except ValueError as exc:
        print(f"{prog}: --{exc}", file=sys.stderr)
        return 2
    if run_id is None:
        print(
            f"{prog}: {redact(args.output)} records no restore or choose run (no meta/runs table)",
            file=sys.stderr,
        )
        return 2
    index, problems = write_report(output, run_id)
    for problem in problems:
        print(f"{prog}: not reported: {redact(problem)}", file=sys.stderr)
    print(f"talkie report: run {run_id}: {redact(index)}")  # the output URI may carry credentials
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
