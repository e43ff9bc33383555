"""media/review: the pictures' curves and spectrogram, and the pages' escaping and links."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
from PIL import Image

from media.review.evidence import SceneEvidence
from media.review.html import FailureEntry, FilmEntry, SceneEntry, TakeEntry, film_page_html
from media.review.pictures import MAX_COLUMNS, onset_curve, scene_picture_png, spectrogram_db


def test_onset_curves_peak_at_their_onsets_and_are_flat_without_any():
    times = np.linspace(0, 1, 1001)
    curve = onset_curve(np.array([0.25, 0.7]), times)
    peaks = times[1:-1][(curve[1:-1] > curve[:-2]) & (curve[1:-1] > curve[2:])]
    assert np.allclose(peaks, [0.25, 0.7]) and curve.max() == 1.0
    assert not onset_curve(np.zeros(0), times).any()


def test_the_spectrogram_finds_a_tone_and_stays_narrow_for_long_audio():
    rate = 8000
    tone = np.sin(2 * np.pi * 1000 * np.arange(rate) / rate)
    freqs, _, db = spectrogram_db(tone, rate)
    assert abs(freqs[db.mean(axis=1).argmax()] - 1000) < freqs[1]
    _, times, db = spectrogram_db(np.zeros(rate * 600), rate)  # ten minutes
    assert db.shape[1] <= MAX_COLUMNS and times[-1] > 599


def _evidence() -> SceneEvidence:
    rng = np.random.default_rng(3)
    return SceneEvidence(
        start_s=1.0,
        end_s=3.0,
        thumbnails=rng.integers(0, 255, (8, 36, 48, 3), dtype=np.uint8),
        thumbnail_times=1.0 + np.arange(8) / 4,
        track=rng.normal(0, 0.1, 96000).astype(np.float32),
        rate=48000,
        motion_onsets=np.array([0.5, 1.2]),
        audio_onsets=np.array([0.52]),
        agreement=0.7,
    )


def test_the_scene_picture_is_a_deterministic_png_of_the_pages_size():
    first = scene_picture_png(_evidence(), title="film · scene 1")
    assert first == scene_picture_png(_evidence(), title="film · scene 1")
    image = Image.open(io.BytesIO(first))
    assert image.size == (880, 400)
    assert np.asarray(image.convert("L")).std() > 20


def test_the_film_page_escapes_what_it_shows_and_links_relatively():
    take = TakeEntry(take=1, seed=7, sync_score=0.5, audio_href="../../../audio/f/k.flac", chosen=True)
    scene = SceneEntry(
        index=0,
        start_s=0.0,
        end_s=1.5,
        positive_prompt="<script>alert(1)</script> & rain",
        negative_prompt=None,
        picture_href="scene-00000.png",
        agreement=0.3,
        takes=(take,),
    )
    page = film_page_html(
        FilmEntry(
            film_id="f",
            run_id="R",
            status="done",
            duration_s=1.5,
            loudness_lufs=-23.0,
            cut_key="c",
            run_href="../index.html",
            preview_href="../../../films/f/c.preview.mp4",
            flac_href="../../../films/f/c.flac",
            video_href=None,
            scenes=(scene,),
            failures=(FailureEntry(uri="x.mp4", film_id="f", stage="report", error_type="E", error="<b>"),),
        )
    )
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; rain" in page
    assert "&lt;b&gt;" in page
    assert '<tr class="chosen" data-take="1">' in page and 'src="../../../audio/f/k.flac"' in page
    assert "://" not in page.replace('href="data:,"', "")  # nothing absolute, nothing from the network


def test_a_scored_film_page_plays_both_stems_and_shows_the_cue_sheet():
    from media.review.html import CueEntry

    take = TakeEntry(take=0, seed=7, sync_score=0.5, audio_href="../../../audio/f/k.flac", chosen=True)
    cues = [
        CueEntry(sounds=True, mood="comedy", tempo_bpm=124, key="F major", instrument="piano", hits=True),
        CueEntry(sounds=False, mood="sad", tempo_bpm=60, key="G minor", instrument="piano", hits=False),
    ]
    scenes = tuple(
        SceneEntry(
            index=i,
            start_s=1.5 * i,
            end_s=1.5 * (i + 1),
            positive_prompt="p",
            negative_prompt=None,
            picture_href=f"scene-{i:05d}.png",
            agreement=0.3,
            takes=(take,),
            cue=cue,
        )
        for i, cue in enumerate(cues)
    )
    film = FilmEntry(
        film_id="f",
        run_id="R",
        status="done",
        duration_s=3.0,
        loudness_lufs=-23.0,
        cut_key="c",
        run_href="../index.html",
        preview_href=None,
        flac_href="../../../films/f/c.flac",
        video_href="../../../films/f/c.mkv",
        scenes=scenes,
        effects_href="../../../films/f/c.effects.flac",
        score_href="../../../films/f/c.score.flac",
    )
    page = film_page_html(film)
    assert 'src="../../../films/f/c.effects.flac" data-stem="effects"' in page
    assert 'src="../../../films/f/c.score.flac" data-stem="score"' in page
    assert "<h2>Cue sheet</h2>" in page and '<tr data-scene="1"><td>1</td>' in page
    assert "music: comedy · 124 BPM · F major · piano · catches the action" in page
    assert "<em>no music</em> (the cue would be sad · 60 BPM · G minor · piano)" in page
    plain = film_page_html(
        replace(film, scenes=tuple(replace(s, cue=None) for s in scenes), effects_href=None, score_href=None)
    )
    assert "data-stem" not in plain and "Cue sheet" not in plain and "cue sheet" not in plain
