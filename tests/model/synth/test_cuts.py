"""Cuts in the truth are the shot boundaries, and each is a real change of picture."""

from __future__ import annotations

import numpy as np


def _diffs(frames: np.ndarray) -> np.ndarray:
    """d[i] = mean absolute change from frame i - 1 to frame i (d[0] = 0)."""
    f = frames.astype(np.int16)
    return np.concatenate([[0.0], np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))])


def test_shots_tile_the_film_and_cuts_open_shots(clean_films):
    for film in clean_films:
        t = film.truth
        shots = t["shots"]
        assert shots[0]["start_frame"] == 0 and shots[-1]["end_frame"] == t["frames"]
        assert [s["start_frame"] for s in shots[1:]] == t["cuts_at_frames"]
        for a, b in zip(shots, shots[1:]):
            assert a["end_frame"] == b["start_frame"] and a["end_s"] == b["start_s"]
        for s in shots:
            assert s["start_s"] == round(s["start_frame"] / t["fps"], 6) and s["end_frame"] > s["start_frame"]
        assert len(t["transitions"]) == len(t["cuts_at_frames"])
        for tr, cut in zip(t["transitions"], t["cuts_at_frames"]):
            assert tr["cut_frame"] == cut
            if tr["kind"] == "hard":
                assert tr["start_frame"] == tr["end_frame"] == cut
            else:
                assert tr["kind"] in ("fade_black", "dissolve")
                assert 6 <= tr["end_frame"] - tr["start_frame"] <= 16
                assert cut == tr["start_frame"] + (tr["end_frame"] - tr["start_frame"]) // 2, (
                    "a fade's cut is its middle frame"
                )
    kinds = {tr["kind"] for f in clean_films for tr in f.truth["transitions"]}
    assert kinds == {"hard", "fade_black", "dissolve"}


def test_cuts_are_real_visual_changes(clean_films):
    hard = 0
    for film in clean_films:
        t = film.truth
        d = _diffs(film.clean_frames)
        inside = np.ones(t["frames"], bool)
        inside[0] = False
        for tr in t["transitions"]:
            inside[tr["start_frame"] : max(tr["end_frame"], tr["cut_frame"]) + 1] = False
        calm = d[inside].max()
        for tr in t["transitions"]:
            if tr["kind"] == "hard":
                assert d[tr["cut_frame"]] > 25 and d[tr["cut_frame"]] > calm, (film.name, tr)
                hard += 1
            else:  # the pictures either side of a fade belong to different scenes
                before = film.clean_frames[tr["start_frame"] - 1].astype(int)
                after = film.clean_frames[tr["end_frame"]].astype(int)
                total = np.abs(before - after).mean()
                assert total > 25
                if tr["kind"] == "dissolve":  # gradual: no single step does most of the change
                    assert d[tr["start_frame"] : tr["end_frame"] + 1].max() < 0.5 * total
    assert hard >= 3


def test_fade_through_black_is_darkest_near_its_cut(clean_films):
    seen = 0
    for film in clean_films:
        for tr in film.truth["transitions"]:
            if tr["kind"] != "fade_black":
                continue
            lum = film.clean_frames[tr["start_frame"] - 1 : tr["end_frame"] + 1].mean(axis=(1, 2, 3))
            darkest = int(np.argmin(lum)) + tr["start_frame"] - 1
            assert abs(darkest - tr["cut_frame"]) <= 2
            assert lum.min() < 0.35 * min(lum[0], lum[-1])
            seen += 1
    assert seen >= 1
