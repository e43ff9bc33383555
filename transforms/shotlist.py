"""Human-readable shot lists: a CSV and a CMX3600 EDL per film, and the step that writes them.

Timecodes are non-drop-frame HH:MM:SS:FF counted in frames (presentation order, from 0) at the
film's nominal rate rounded to a whole timebase (29.97 -> 30, 74/3 -> 25), which is how an
editing system counts the frames of a file without a timecode track. Out points are exclusive,
as EDLs expect: a scene's source out is the timecode of its ``end_frame``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import apache_beam as beam

from media import storage
from media.records import Scene
from transforms.failures import FAILURES, FailureGuard
from transforms.layout import shotlist_uris
from transforms.manifest import file_name
from transforms.shard import ShardedFilm
from transforms.stages import STAGE_WRITE_SHOTLIST
from transforms.storage_metrics import CountsStorageRetries

CSV_COLUMNS = (
    "scene_index",  # 0-based, as the manifest's {"index": N} scene overrides count
    "start_frame",
    "end_frame",  # exclusive
    "start_timecode",
    "end_timecode",
    "start_s",
    "end_s",
    "duration_s",
    "cut_confidence",
)
EDL_REEL_CHARS = 8  # CMX3600 reel names: up to 8 letters, digits or underscores
EDL_TITLE_CHARS = 70
EDL_FALLBACK_REEL = "AX"  # the customary reel name for a file-based source


def timecode_base(nominal_fps: float) -> int:
    """The whole-frame timebase for ``nominal_fps``, rounded half up (23.976 -> 24, 12.5 -> 13)."""
    if not (isinstance(nominal_fps, (int, float)) and math.isfinite(nominal_fps) and nominal_fps > 0):
        raise ValueError(f"nominal_fps {nominal_fps!r} must be a positive number of frames per second")
    return max(1, math.floor(nominal_fps + 0.5))


def frames_to_timecode(frame: int, base: int) -> str:
    """Non-drop-frame ``HH:MM:SS:FF`` for a 0-based frame count at a whole timebase."""
    if frame < 0 or base < 1:
        raise ValueError(f"frame {frame} and timebase {base} must be >= 0 and >= 1")
    seconds, frames = divmod(frame, base)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frames:02d}"


def shotlist_csv(scenes: Sequence[Scene], nominal_fps: float) -> str:
    """One header line and one line per scene, columns ``CSV_COLUMNS``."""
    base = timecode_base(nominal_fps)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for scene in scenes:
        writer.writerow(
            [
                scene.index,
                scene.start_frame,
                scene.end_frame,
                frames_to_timecode(scene.start_frame, base),
                frames_to_timecode(scene.end_frame, base),
                f"{scene.start_s:.6f}",
                f"{scene.end_s:.6f}",
                f"{scene.end_s - scene.start_s:.6f}",
                f"{scene.cut_confidence:.4f}",
            ]
        )
    return out.getvalue()


def edl_reel_name(film_id: str) -> str:
    """The film_id's letters, digits and underscores, cut to 8, upper-cased; ``AX`` when none are left."""
    return re.sub(r"[^A-Za-z0-9_]", "", film_id)[:EDL_REEL_CHARS].upper() or EDL_FALLBACK_REEL


def _edl_text(text: str, limit: int) -> str:
    printable = "".join(c if " " <= c <= "~" else "_" for c in text)
    return printable[:limit]


def shotlist_edl(
    scenes: Sequence[Scene],
    *,
    film_id: str,
    clip_name: str,
    nominal_fps: float,
    record_start_frame: int = 0,
) -> str:
    """A CMX3600 EDL with one video cut event per scene, laid end to end on the record side.

    Event numbers run 001, 002, ...; past 999 they take a fourth digit, which most editing
    systems read but strict CMX3600 does not define.
    """
    base = timecode_base(nominal_fps)
    reel = edl_reel_name(film_id)
    clip = _edl_text(clip_name, 255)
    lines = [f"TITLE: {_edl_text(film_id, EDL_TITLE_CHARS)}", "FCM: NON-DROP FRAME", ""]
    record = record_start_frame
    for number, scene in enumerate(scenes, start=1):
        length = scene.end_frame - scene.start_frame
        lines.append(
            f"{number:03d}  {reel:<8} V     C        "
            f"{frames_to_timecode(scene.start_frame, base)} {frames_to_timecode(scene.end_frame, base)} "
            f"{frames_to_timecode(record, base)} {frames_to_timecode(record + length, base)}"
        )
        lines.append(f"* FROM CLIP NAME: {clip}")
        lines.append(f"* TALKIE SCENE INDEX: {scene.index}")
        lines.append("")
        record += length
    return "\n".join(lines)


class ShotListOutputs(NamedTuple):
    written: beam.PCollection  # str: the URIs written, two per film
    failures: beam.PCollection  # Failure


class _WriteShotListFn(CountsStorageRetries, beam.DoFn):
    def __init__(self, output: str) -> None:
        self._output = output
        self._written = beam.metrics.Metrics.counter("talkie", "shotlists_written")
        self._guard = FailureGuard(STAGE_WRITE_SHOTLIST)

    def process(self, film: ShardedFilm) -> Iterator[Any]:
        with self._guard.catching() as caught:  # one film's shot list must not stop the others
            csv_uri, edl_uri = shotlist_uris(self._output, film.film_id)
            csv_bytes = shotlist_csv(film.scenes, film.probe.nominal_fps).encode("utf-8")
            edl_bytes = shotlist_edl(
                film.scenes,
                film_id=film.film_id,
                clip_name=file_name(film.job.video_input),
                nominal_fps=film.probe.nominal_fps,
            ).encode("ascii")
            # Each file is built whole, then published in one atomic call.
            storage.write_bytes(csv_uri, csv_bytes)
            storage.write_bytes(edl_uri, edl_bytes)
        if caught.error is not None:
            yield self._guard.failure(caught.error, uri=film.job.video_input, film_id=film.film_id)
            return
        self._written.inc()
        yield csv_uri
        yield edl_uri


class WriteShotLists(beam.PTransform):
    """ShardedFilm -> ``ShotListOutputs``: writes ``OUTPUT/shotlists/<film_id>.csv`` and ``.edl``
    (``transforms.layout.shotlist_uris``).

    Each file is published atomically with ``media.storage.write_bytes``; a rerun replaces a
    film's shot lists with the newest ones. A film whose shot list cannot be built or written
    becomes a ``Failure`` with stage ``write_shotlist``.
    """

    def __init__(self, output: str) -> None:
        super().__init__()
        self._output = output

    def expand(self, films: beam.PCollection) -> ShotListOutputs:
        result = films | "WriteCsvAndEdl" >> beam.ParDo(_WriteShotListFn(self._output)).with_outputs(
            FAILURES, main="written"
        )
        return ShotListOutputs(written=result.written, failures=result[FAILURES])
