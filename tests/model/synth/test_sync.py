"""Every onset is on the frame that first shows its cause, and the audio rises right there."""

from __future__ import annotations

import numpy as np
import pytest

from model.synth import SynthConfig, make_film
from model.synth.render import draw_source

from .conftest import onset_ratio

IMPACTS = SynthConfig(
    classes=("impact",),
    mixed_prob=0.0,
    damage=0.0,
    min_shots=2,
    max_shots=3,
    shot_seconds=(1.0, 2.5),
    cadence_prob=0.5,
    fade_prob=0.5,
)
STEPS = SynthConfig(
    classes=("footsteps",),
    mixed_prob=0.0,
    damage=0.0,
    min_shots=2,
    max_shots=3,
    shot_seconds=(1.5, 2.5),
    cadence_prob=0.5,
    fade_prob=0.5,
)


@pytest.fixture(scope="module")
def impact_films():
    return [make_film(s, IMPACTS) for s in range(6)]


@pytest.fixture(scope="module")
def step_films():
    return [make_film(s, STEPS) for s in range(6)]


def _check_event_times(film):
    t = film.truth
    dups = set(t["duplicated_frames"])
    assert t["events"], "a film of this class must have onsets"
    for e in t["events"]:
        assert e["frame"] not in dups, "an onset is on the first frame of its picture, never a repeat"
        assert e["time_s"] == pytest.approx(e["frame"] / t["fps"], abs=1e-6)
        assert e["sample"] == round(e["frame"] / t["fps"] * 48000)
        shot = t["shots"][e["shot"]]
        assert shot["start_frame"] <= e["frame"] < shot["end_frame"]
        for tr in t["transitions"]:  # onsets stay out of fades so they are never half visible
            assert not tr["start_frame"] <= e["frame"] < tr["end_frame"] or tr["kind"] == "hard"


def test_impact_truth_is_consistent(impact_films):
    for film in impact_films:
        _check_event_times(film)
        assert all(
            e["class"] == "impact" and e["fine"] in ("wood", "metal", "glass") for e in film.truth["events"]
        )


def _door_open(canvas: np.ndarray, p: dict) -> np.ndarray:
    """(pictures,) True where the leaf sticks out above or below its frame: an open door's near
    edge looks taller than the doorway; a shut door lies flat inside it."""
    lit = canvas.max(axis=3) > 0.12
    above = int(np.floor(p["y_floor"] - p["h"] - 1))
    below = int(np.floor(p["y_floor"])) + 1
    return lit[:, :above].any(axis=(1, 2)) | lit[:, below:].any(axis=(1, 2))


def test_impact_cause_is_first_visible_on_the_event_frame(impact_films):
    """Draw each object alone on black. A falling object's lowest pixel row reaches the floor on
    the contact picture and was higher on the picture before; a door lies flat in its frame from
    the slam picture on and stood open on every picture before."""
    checked, doors = 0, 0
    for film in impact_films:
        timing = film.plan.timing
        for shot in film.plan.shots:
            for src in shot.sources:
                canvas = np.zeros(
                    (shot.span_end - shot.span_start, film.plan.height, film.plan.width, 3), np.float32
                )
                draw_source(canvas, src, timing.content_fps)
                if src.visual == "door":
                    is_open = _door_open(canvas, src.params)
                    (hit,) = src.hits
                    i = hit.picture - shot.span_start
                    assert src.state["angle"][i] == 0.0 and src.state["angle"][i - 1] > 0.0
                    assert is_open[:i].all() and not is_open[i:].any(), (
                        "the door is first shut on the slam picture"
                    )
                    doors += 1
                    continue
                # rows at least half covered by the object's body colour
                body = max(src.params["colour"]) * (0.8 if src.fine == "glass" else 1.0)
                rows = canvas.max(axis=(2, 3)) > 0.45 * body  # (pictures, H)
                bottom = np.where(rows.any(axis=1), rows.shape[1] - 1 - np.argmax(rows[:, ::-1], axis=1), -1)
                floor_row = int(np.floor(src.params["y_floor"] - 0.5))  # a rect ending at y_floor
                for hit in src.hits:
                    i = hit.picture - shot.span_start
                    assert src.state["height"][i] == 0.0 and src.state["height"][i - 1] >= 2.0
                    assert bottom[i] >= floor_row - 1, "the object is on the floor at the contact picture"
                    assert bottom[i - 1] <= floor_row - 2, "and clearly above it on the picture before"
                    frame = int(timing.frame_of_picture(hit.picture))
                    assert any(e["frame"] == frame and e["class"] == "impact" for e in film.truth["events"])
                    checked += 1
    assert checked >= 10 and doors >= 1


def test_impact_audio_rises_at_the_event(impact_films):
    """Isolated impacts (no other onset in the 0.5 s before, so no earlier ring masks them): the
    energy jumps at the event sample, and nothing like it happens a frame earlier."""
    checked = 0
    for film in impact_films:
        t = film.truth
        frame_len = 48000 // t["fps"]
        samples = [e["sample"] for e in t["events"]]
        for e in t["events"]:
            s = e["sample"]
            if any(0 < s - o < 24000 for o in samples) or s < frame_len:
                continue
            assert onset_ratio(film.audio, s) > 4.0, e
            assert onset_ratio(film.audio, s - frame_len) < 2.0, e  # one frame early: no onset yet
            checked += 1
    assert checked >= 6


def test_footstep_lands_on_the_event_frame(step_films):
    checked = 0
    for film in step_films:
        _check_event_times(film)
        timing = film.plan.timing
        for shot in film.plan.shots:
            for src in shot.sources:
                for hit in src.hits:
                    i = hit.picture - shot.span_start
                    heights = [src.state["foot0_h"], src.state["foot1_h"]]
                    xs = [src.state["foot0_x"], src.state["foot1_x"]]
                    landed = [
                        f
                        for f in (0, 1)
                        if heights[f][i] == 0.0
                        and heights[f][i - 1] > 0.0
                        and xs[f][i] == pytest.approx(hit.x)
                    ]
                    assert len(landed) == 1, "exactly one foot comes down on the step picture"
                    assert 0 <= hit.x < film.plan.width, "the landing foot is in view"
                    frame = int(timing.frame_of_picture(hit.picture))
                    assert frame in {e["frame"] for e in film.truth["events"]}
                    checked += 1
    assert checked >= 10
    assert {e["fine"] for f in step_films for e in f.truth["events"]} <= {
        "gravel",
        "wood",
        "concrete",
        "grass",
    }


def test_footstep_audio_rises_at_the_event(step_films):
    checked = 0
    for film in step_films:
        samples = [e["sample"] for e in film.truth["events"]]
        for e in film.truth["events"]:
            if any(0 < e["sample"] - o < 9600 for o in samples):
                continue
            assert onset_ratio(film.audio, e["sample"]) > 4.0, e
            checked += 1
    assert checked >= 6
