"""One film's review: its browser preview and its page with a picture per scene.

Paths (DESIGN.md, Contracts, "Output layout", with ``OUTPUT/report/…`` laid out here):

    OUTPUT/films/<film_id>/<cut_key>.preview.mp4         the browser preview, beside the FLAC and MKV
    OUTPUT/report/<run_id>/<film_id>/index.html          the film's page for run <run_id>
    OUTPUT/report/<run_id>/<film_id>/scene-NNNNN.png     one picture per scene

The page links stems, tracks and the preview by relative paths that follow the output layout
(``../../../audio/<film_id>/<unit_key>.flac``), so the folder works from disk or a bucket, and
stays whole when OUTPUT is moved. The preview's bytes depend only on the MKV and the FLAC, so it
is written once per cut key and kept (``media.preview``).

Memory: the film's track (as assembling it did), and one scene's frames at a time.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from media import storage
from media.flac import decode_flac
from media.preview import encode_preview
from media.review.evidence import Picture, read_picture, scene_evidence
from media.review.html import FailureEntry, FilmEntry, SceneEntry, TakeEntry, film_page_html
from media.review.pictures import scene_picture_png
from media.track import OUTPUT_RATE, scene_sample_range

log = logging.getLogger(__name__)

STATUS_DONE = "done"
REPORT_FOLDER = "report"
PAGE = "index.html"
_UP_TO_OUTPUT = "../../.."  # from OUTPUT/report/<run_id>/<film_id>/


def preview_uri(output: str, film_id: str, cut_key: str) -> str:
    """``OUTPUT/films/<film_id>/<cut_key>.preview.mp4``."""
    return storage.join(output, "films", film_id, f"{cut_key}.preview.mp4")


def run_folder(output: str, run_id: str) -> str:
    """``OUTPUT/report/<run_id>``: the run's index page and a folder per film."""
    return storage.join(output, REPORT_FOLDER, run_id)


def film_page_uri(output: str, run_id: str, film_id: str) -> str:
    return storage.join(run_folder(output, run_id), film_id, PAGE)


def picture_name(scene_index: int) -> str:
    return f"scene-{scene_index:05d}.png"


@dataclass(frozen=True)
class FilmReport:
    film_id: str
    page_uri: str
    preview_uri: str | None
    preview_written: bool


def write_preview(output: str, film: Mapping[str, Any], flac: bytes) -> tuple[str, bool]:
    """(the preview's URI, whether it was written now): encoded from the film's MKV and FLAC
    unless a preview of this cut is already there."""
    uri = preview_uri(output, film["film_id"], film["cut_key"])
    if storage.exists(uri):
        return uri, False
    preview = encode_preview(film["video_uri"], flac)
    storage.write_bytes(uri, preview.data)
    return uri, True


def write_film_report(output: str, run_id: str, film: Mapping[str, Any], scenes: Sequence[Mapping[str, Any]],
                      takes: Sequence[Mapping[str, Any]], failures: Sequence[Mapping[str, Any]] = ()) -> FilmReport:
    """Writes the film's preview (when it has a track) and its page with a picture per scene.

    ``film`` is its ``films`` row, ``scenes`` and ``takes`` its rows of the same run (the restore
    job's columns), ``failures`` its ``failures`` rows.
    """
    film_id = film["film_id"]
    scenes = sorted(scenes, key=lambda row: row["scene_index"])
    done = film["status"] == STATUS_DONE and film.get("flac_uri") and film.get("cut_key")
    track = None
    preview, written = None, False
    if done:
        flac = storage.read_bytes(film["flac_uri"])
        preview, written = write_preview(output, film, flac)
        track, rate, _ = decode_flac(flac)
        if rate != OUTPUT_RATE:
            raise ValueError(f"{film['flac_uri']} is at {rate} Hz, not {OUTPUT_RATE}")
    folder = storage.join(run_folder(output, run_id), film_id)
    entries = []
    if scenes:
        first_pts = int(scenes[0]["start_pts"])
        # The published MKV carries the source's picture: reading it needs no access to the source
        # (whose URI in the tables is redacted of credentials, so it may not open).
        video = film["video_uri"] if done else film["uri"]
        picture = read_picture(video)
        by_scene: dict[int, list[Mapping[str, Any]]] = {}
        for take in takes:
            by_scene.setdefault(int(take["scene_index"]), []).append(take)
        for scene in scenes:
            entries.append(_scene_entry(film, scene, first_pts, video, picture, track,
                                        sorted(by_scene.get(int(scene["scene_index"]), []), key=lambda t: t["take"]),
                                        folder))
    page = FilmEntry(
        film_id=film_id, run_id=run_id, status=film["status"], duration_s=film.get("duration_s"),
        loudness_lufs=film.get("loudness_lufs"), cut_key=film.get("cut_key"), run_href=f"../{PAGE}",
        preview_href=_films_href(film_id, f"{film['cut_key']}.preview.mp4") if preview else None,
        flac_href=_films_href(film_id, f"{film['cut_key']}.flac") if done else None,
        video_href=_films_href(film_id, f"{film['cut_key']}.mkv") if done else None,
        scenes=tuple(entries),
        failures=tuple(failure_entry(f) for f in failures),
    )
    uri = storage.join(folder, PAGE)
    storage.write_bytes(uri, film_page_html(page).encode("utf-8"))
    return FilmReport(film_id=film_id, page_uri=uri, preview_uri=preview, preview_written=written)


def failure_entry(row: Mapping[str, Any]) -> FailureEntry:
    return FailureEntry(uri=row["uri"], film_id=row.get("film_id"), stage=row["stage"],
                        error_type=row["error_type"], error=row["error"])


def _films_href(film_id: str, name: str) -> str:
    return f"{_UP_TO_OUTPUT}/films/{film_id}/{name}"


def _scene_entry(film: Mapping[str, Any], scene: Mapping[str, Any], first_pts: int, video_uri: str, picture: Picture,
                 track: np.ndarray | None, takes: Sequence[Mapping[str, Any]], folder: str) -> SceneEntry:
    index = int(scene["scene_index"])
    time_base = Fraction(scene["time_base"])
    t0 = Fraction(int(scene["start_pts"]) - first_pts) * time_base
    t1 = Fraction(int(scene["end_pts"]) - first_pts) * time_base
    start, end = scene_sample_range(t0, t1, OUTPUT_RATE)
    segment = track[start:end] if track is not None else np.zeros(max(0, end - start), np.float32)
    evidence = scene_evidence(video_uri, picture, start_s=float(t0), end_s=float(t1), track=segment, rate=OUTPUT_RATE,
                              fps=film.get("true_fps") or film.get("nominal_fps") or 0.0)
    title = f"{film['film_id']} · scene {index}" + ("" if track is not None else " (no film track)")
    name = picture_name(index)
    storage.write_bytes(storage.join(folder, name), scene_picture_png(evidence, title=title))
    chosen = scene.get("best_take")
    return SceneEntry(
        index=index, start_s=float(t0), end_s=float(t1),
        positive_prompt=scene.get("positive_prompt"), negative_prompt=scene.get("negative_prompt"),
        picture_href=name, agreement=evidence.agreement,
        takes=tuple(
            TakeEntry(take=int(t["take"]), seed=int(t["seed"]), sync_score=t.get("sync_score"),
                      audio_href=f"{_UP_TO_OUTPUT}/audio/{film['film_id']}/{t['unit_key']}.flac",
                      chosen=chosen is not None and int(t["take"]) == int(chosen))
            for t in takes
        ),
    )
