"""One film's review: its browser preview and its page with a picture per scene.

Where these go is the output layout's (docs/design.md, Contracts, "Output layout"), which media/
does not know: the caller hands each film its ``FilmPagePaths`` (``transforms.layout.film_page_paths``
builds them), e.g. for run R:

    OUTPUT/films/<film_id>/<cut_key>.preview.mp4         the browser preview, beside the FLAC and MKV
                                                         (and a scored cut's .effects.flac, .score.flac)
    OUTPUT/report/R/<film_id>/index.html                 the film's page for run R
    OUTPUT/report/R/<film_id>/scene-NNNNN.png            one picture per scene

The page links stems, tracks and the preview by relative paths (``../../../audio/<film_id>/<unit_key>.flac``),
so the folder works from disk or a bucket, and stays whole when OUTPUT is moved. The preview's bytes
depend only on the MKV and the FLAC, so it is written once per cut key and kept (``media.preview``).

Memory: the film's track (as assembling it did), and one scene's frames at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from media import storage
from media.flac import decode_flac
from media.preview import encode_preview
from media.review.evidence import Picture, read_picture, scene_evidence
from media.review.html import CueEntry, FailureEntry, FilmEntry, SceneEntry, TakeEntry, film_page_html
from media.review.pictures import scene_picture_png
from media.track import OUTPUT_RATE, scene_sample_range

log = logging.getLogger(__name__)

STATUS_DONE = "done"


@dataclass(frozen=True)
class FilmPagePaths:
    """Where one film's review goes, and its page's links, relative to the page."""

    folder: str  # the page's folder: the page and its pictures
    page: str  # the page's URI
    picture_name: str  # scene N's picture beside the page: a format string of N, e.g. "scene-{:05d}.png"
    run_href: str  # the run's index page
    stem_href: str  # a take's stem: a format string of its unit key
    preview: str | None  # the cut's preview URI; None: the film has no cut
    preview_href: str | None  # the cut's preview, FLAC and MKV; None: no cut
    flac_href: str | None
    video_href: str | None
    effects_href: str | None = None  # a scored cut's stems (linked when the films row names them)
    score_href: str | None = None


@dataclass(frozen=True)
class FilmReport:
    film_id: str
    page_uri: str
    preview_uri: str | None
    preview_written: bool


def write_preview(uri: str, video_uri: str, flac: bytes) -> bool:
    """Whether the preview at ``uri`` was written now: encoded from the cut's MKV at ``video_uri``
    and its FLAC, unless a preview of this cut is already there."""
    if storage.exists(uri):
        return False
    preview = encode_preview(video_uri, flac)
    storage.write_bytes(uri, preview.data)
    return True


def write_film_report(
    paths: FilmPagePaths,
    run_id: str,
    film: Mapping[str, Any],
    scenes: Sequence[Mapping[str, Any]],
    takes: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]] = (),
) -> FilmReport:
    """Writes the film's preview (when it has a track) and its page with a picture per scene.

    ``paths`` are the film's page and preview for run ``run_id``; ``film`` is its ``films`` row,
    ``scenes`` and ``takes`` its rows of the same run (the restore job's columns), ``failures``
    its ``failures`` rows. A scored film (its row names a score stem) gets players for its effects
    and score stems and its cue sheet, and its pictures show the effects stem, whose sounds are
    the ones meant to land on the picture.
    """
    film_id = film["film_id"]
    scenes = sorted(scenes, key=lambda row: row["scene_index"])
    done = film["status"] == STATUS_DONE and film.get("flac_uri") and film.get("cut_key")
    track = None
    scored = False
    preview, written = None, False
    if done:
        if paths.preview is None:
            raise ValueError(f"film {film_id} has a cut ({film['cut_key']}) but its paths name no preview")
        flac = storage.read_bytes(film["flac_uri"])
        preview, written = paths.preview, write_preview(paths.preview, film["video_uri"], flac)
        scored = bool(film.get("score_flac_uri") and film.get("effects_flac_uri"))
        heard = storage.read_bytes(film["effects_flac_uri"]) if scored else flac
        track, rate, _ = decode_flac(heard)
        if rate != OUTPUT_RATE:
            raise ValueError(
                f"{film['effects_flac_uri' if scored else 'flac_uri']} is at {rate} Hz, not {OUTPUT_RATE}"
            )
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
        with_cues = any(scene.get("score_sounds") for scene in scenes)  # a film with music shows its cues
        for scene in scenes:
            scene_takes = sorted(by_scene.get(int(scene["scene_index"]), []), key=lambda t: t["take"])
            entry = _scene_entry(paths, film, scene, first_pts, video, picture, track, scene_takes, scored)
            entries.append(replace(entry, cue=cue_entry(scene)) if with_cues else entry)
    page = FilmEntry(
        film_id=film_id,
        run_id=run_id,
        status=film["status"],
        duration_s=film.get("duration_s"),
        loudness_lufs=film.get("loudness_lufs"),
        cut_key=film.get("cut_key"),
        run_href=paths.run_href,
        preview_href=paths.preview_href if preview else None,
        flac_href=paths.flac_href if done else None,
        video_href=paths.video_href if done else None,
        scenes=tuple(entries),
        failures=tuple(failure_entry(f) for f in failures),
        effects_href=paths.effects_href if scored else None,
        score_href=paths.score_href if scored else None,
    )
    storage.write_bytes(paths.page, film_page_html(page).encode("utf-8"))
    return FilmReport(film_id=film_id, page_uri=paths.page, preview_uri=preview, preview_written=written)


def cue_entry(scene: Mapping[str, Any]) -> CueEntry | None:
    """A scenes row's cue sheet (its score_* columns); None where it has none."""
    if scene.get("score_sounds") is None or scene.get("score_mood") is None:
        return None
    return CueEntry(
        sounds=bool(scene["score_sounds"]),
        mood=str(scene["score_mood"]),
        tempo_bpm=int(scene["score_tempo_bpm"]),
        key=str(scene["score_key"]),
        instrument=str(scene["score_instrument"]),
        hits=bool(scene.get("score_hits")),
    )


def failure_entry(row: Mapping[str, Any]) -> FailureEntry:
    return FailureEntry(
        uri=row["uri"],
        film_id=row.get("film_id"),
        stage=row["stage"],
        error_type=row["error_type"],
        error=row["error"],
    )


def _scene_entry(
    paths: FilmPagePaths,
    film: Mapping[str, Any],
    scene: Mapping[str, Any],
    first_pts: int,
    video_uri: str,
    picture: Picture,
    track: np.ndarray | None,
    takes: Sequence[Mapping[str, Any]],
    scored: bool = False,
) -> SceneEntry:
    index = int(scene["scene_index"])
    time_base = Fraction(scene["time_base"])
    t0 = Fraction(int(scene["start_pts"]) - first_pts) * time_base
    t1 = Fraction(int(scene["end_pts"]) - first_pts) * time_base
    start, end = scene_sample_range(t0, t1, OUTPUT_RATE)
    segment = track[start:end] if track is not None else np.zeros(max(0, end - start), np.float32)
    evidence = scene_evidence(
        video_uri,
        picture,
        start_s=float(t0),
        end_s=float(t1),
        track=segment,
        rate=OUTPUT_RATE,
        fps=film.get("true_fps") or film.get("nominal_fps") or 0.0,
        track_label="effects" if scored else "film track",
    )
    title = f"{film['film_id']} · scene {index}" + ("" if track is not None else " (no film track)")
    name = paths.picture_name.format(index)
    storage.write_bytes(storage.join(paths.folder, name), scene_picture_png(evidence, title=title))
    chosen = scene.get("best_take")
    return SceneEntry(
        index=index,
        start_s=float(t0),
        end_s=float(t1),
        positive_prompt=scene.get("positive_prompt"),
        negative_prompt=scene.get("negative_prompt"),
        picture_href=name,
        agreement=evidence.agreement,
        takes=tuple(
            TakeEntry(
                take=int(t["take"]),
                seed=int(t["seed"]),
                sync_score=t.get("sync_score"),
                audio_href=paths.stem_href.format(t["unit_key"]),
                chosen=chosen is not None and int(t["take"]) == int(chosen),
            )
            for t in takes
        ),
    )
