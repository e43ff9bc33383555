"""Table rows built from the records that flow (column names: docs/design.md, Contracts, "Tables")."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from transforms.failures import Failure, redact
from transforms.shard import ShardedFilm


def scene_rows(film: ShardedFilm) -> list[dict[str, Any]]:
    """The ``scenes`` rows of one film as the shot-list job writes them (the restore job adds its
    prompt and best-take columns to these; the uri never carries credentials)."""
    return [
        {
            "film_id": film.film_id,
            "uri": redact(film.job.video_input),
            "scene_index": scene.index,
            "start_frame": scene.start_frame,
            "end_frame": scene.end_frame,
            "start_pts": scene.start_pts,
            "end_pts": scene.end_pts,
            "time_base": scene.time_base,
            "start_s": scene.start_s,
            "end_s": scene.end_s,
            "cut_confidence": scene.cut_confidence,
        }
        for scene in film.scenes
    ]


def failure_row(failure: Failure) -> dict[str, Any]:
    """The ``failures`` row of one failure."""
    return asdict(failure)
