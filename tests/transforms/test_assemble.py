"""AssembleFilms: best takes, sample-exact tracks, untouched video, rows that match the files."""

from __future__ import annotations

import dataclasses
import hashlib
from fractions import Fraction

import av
import numpy as np
import pytest

from media import storage
from media.flac import decode_flac, encode_flac
from media.mux import video_packets_digest
from tests.films import encode, textured_shots
from tests.transforms.generation import SMALL, real_film
from transforms.assemble import (
    STATUS_DONE,
    STATUS_INCOMPLETE,
    AssemblySettings,
    _AssembleFilmFn,
    best_take,
    film_total_samples,
    read_stem,
)
from transforms.layout import film_stem_uris, stem_uri
from transforms.score import SCORE_TAG, STEM_TAG, ScoreSettings
from transforms.units import GenerationSettings, Take, plan_film

SETTINGS = GenerationSettings(
    checkpoint=None,
    checkpoint_sha256="c" * 64,
    config=SMALL,
    steps=2,
    text_guidance=2.0,
    video_guidance=2.0,
    negative_guidance=2.0,
    sampler="euler",
    vocoder="griffin-lim(test)",
    vocoder_rate=16000,
    takes=2,
)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """2.5 s at 24 fps cut at 1.5 s; 2.5 * 48000 = 120000 samples."""
    path = encode(
        tmp_path_factory.mktemp("film") / "two.mp4", textured_shots([36, 24], size=(48, 64), seed=4)
    )
    return real_film(str(path), [36])


def write_takes(
    output: str,
    plan,
    scores: dict[tuple[int, int], float | None],
    motion: tuple[float, ...] | None = None,
) -> list[Take]:
    """A stem per unit: a tone whose pitch names its scene and take, published with its hash;
    ``motion``: the motion onsets every take records (s from its scene's start)."""
    takes = []
    for unit in plan.units:
        n = unit.output_samples
        tone = 0.1 * np.sin(
            2 * np.pi * (200 + 100 * unit.scene_index + 10 * unit.take) * np.arange(n) / 48000
        )
        data = encode_flac(tone.astype(np.float32), 48000)
        uri = stem_uri(output, unit.film_id, unit.key)
        storage.write_bytes(uri, data)
        score = scores[(unit.scene_index, unit.take)]
        takes.append(Take(unit, uri, hashlib.sha256(data).hexdigest(), score, True, motion))
    return takes


def run_fn(output: str, plan, takes, force: bool = False, score: ScoreSettings | None = None):
    fn = _AssembleFilmFn(output, SETTINGS, AssemblySettings(), force, score)
    out = list(fn.process((plan.film_id, {"plans": [plan], "takes": takes})))
    tagged = {}
    for item in out:
        tag = getattr(item, "tag", "films")
        tagged.setdefault(tag, []).append(getattr(item, "value", item))
    return tagged


def test_best_take_is_the_highest_score_then_the_lowest_take(film):
    units = plan_film(film, SETTINGS).units
    take = lambda unit, score: Take(unit, "u", "s", score, True)  # noqa: E731
    assert best_take([take(units[0], 0.2), take(units[1], 0.5)]).unit.take == 1
    assert best_take([take(units[0], 0.5), take(units[1], 0.5)]).unit.take == 0
    assert best_take([take(units[0], None), take(units[1], -1.0)]).unit.take == 1
    with pytest.raises(ValueError):
        best_take([])


def test_a_film_is_assembled_to_the_sample_with_its_best_takes_and_its_video_untouched(film, tmp_path):
    output = str(tmp_path)
    plan = plan_film(film, SETTINGS)
    takes = write_takes(output, plan, {(0, 0): 0.1, (0, 1): 0.3, (1, 0): None, (1, 1): None})
    rows = run_fn(output, plan, takes)
    [row] = rows["films"]
    assert row["status"] == STATUS_DONE and row["scenes"] == 2 and row["checkpoint_sha256"] == "c" * 64
    assert film_total_samples(plan) == 120000
    audio, rate, tags = decode_flac(storage.read_bytes(row["flac_uri"]))
    assert rate == 48000 and audio.shape == (120000,)
    assert tags["TALKIE_CUT_KEY"] == row["cut_key"] and row["flac_uri"].endswith(
        f"/films/film/{row['cut_key']}.flac"
    )
    assert [s["best_take"] for s in rows["scenes"]] == [1, 0]
    assert len(rows["takes"]) == 4 and {t["flac_sha256"] for t in rows["takes"]} == {
        t.flac_sha256 for t in takes
    }
    # scene 0 from take 1 (210 Hz), scene 1 from take 0 (300 Hz): the strongest bin in each half
    spectrum = lambda x: np.argmax(np.abs(np.fft.rfft(x))) * 48000 / len(x)  # noqa: E731
    assert abs(spectrum(audio[:60000]) - 210) < 2 and abs(spectrum(audio[80000:]) - 300) < 2
    assert video_packets_digest(row["video_uri"]) == video_packets_digest(film.job.video_input)
    with av.open(row["video_uri"]) as mkv:
        assert [s.type for s in mkv.streams] == ["video", "audio"] and mkv.streams.audio[
            0
        ].codec_context.name == "flac"
    first = {u: storage.read_bytes(u) for u in (row["flac_uri"], row["video_uri"])}
    [again] = run_fn(output, plan, takes, force=True)["films"]
    assert again == row and all(storage.read_bytes(u) == data for u, data in first.items())


def test_a_film_with_a_unit_missing_is_incomplete_and_writes_nothing(film, tmp_path):
    output = str(tmp_path)
    plan = plan_film(film, SETTINGS)
    takes = write_takes(output, plan, {k: 0.0 for k in [(0, 0), (0, 1), (1, 0), (1, 1)]})[:3]
    rows = run_fn(output, plan, takes)
    [row] = rows["films"]
    assert row["status"] == STATUS_INCOMPLETE and row["cut_key"] is None and row["flac_uri"] is None
    assert [s["best_take"] for s in rows["scenes"]] == [None, None] and len(rows["takes"]) == 3
    assert not (tmp_path / "films").exists()


def test_a_stem_changed_after_its_ledger_fails_the_film(film, tmp_path):
    output = str(tmp_path)
    plan = plan_film(film, dataclasses.replace(SETTINGS, takes=1))
    takes = write_takes(output, plan, {(0, 0): 0.0, (1, 0): 0.0})
    storage.write_bytes(
        takes[1].flac_uri, encode_flac(np.zeros(takes[1].unit.output_samples, np.float32), 48000)
    )
    with pytest.raises(ValueError, match="changed after it was generated"):
        read_stem(takes[1])
    rows = run_fn(output, plan, takes)
    assert rows["films"][0]["status"] == "failed" and rows["failures"][0].stage == "assemble_films"


def test_track_length_follows_the_exact_duration_not_float_seconds(film):
    plan = plan_film(film, SETTINGS)
    probe = dataclasses.replace(plan.film.probe, duration_pts=plan.film.probe.duration_pts + 1)
    odd = dataclasses.replace(plan, film=dataclasses.replace(plan.film, probe=probe))
    assert film_total_samples(odd) == round(
        (Fraction(probe.duration_pts) * Fraction(probe.time_base)) * 48000
    )


@pytest.mark.parametrize(
    "field,value", [("crossfade_samples", -1), ("target_lufs", 3.0), ("max_true_peak_dbtp", float("nan"))]
)
def test_bad_assembly_settings_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        AssemblySettings(**{field: value})


# ----------------------------------------------------------------------------- the score


def _synth_missing() -> str | None:
    from media.score import ScoreUnavailable, score_identity

    try:
        score_identity()
    except ScoreUnavailable as error:
        return str(error)
    return None


needs_synth = pytest.mark.skipif(_synth_missing() is not None, reason=f"no FluidSynth: {_synth_missing()}")
MUSIC = dataclasses.replace(SETTINGS, positive_prompt="footsteps, piano music, mickey-mousing the hits")
BEST_0 = {(0, 0): 0.5, (0, 1): 0.1, (1, 0): 0.5, (1, 1): 0.1}  # take 0 everywhere
BEST_1 = {(0, 0): 0.5, (0, 1): 0.9, (1, 0): 0.5, (1, 1): 0.1}  # take 1 in scene 0


def _audio(uri: str) -> np.ndarray:
    return decode_flac(storage.read_bytes(uri))[0]


@needs_synth
def test_a_film_with_music_gets_a_mix_and_two_stems_that_add_up_to_it(film, tmp_path):
    output = str(tmp_path)
    plan = plan_film(film, MUSIC)
    rows = run_fn(output, plan, write_takes(output, plan, BEST_0, motion=(0.25, 0.75)))
    [row] = rows["films"]
    key = row["cut_key"]
    assert (row["effects_flac_uri"], row["score_flac_uri"]) == film_stem_uris(output, "film", key)
    assert row["effects_flac_uri"].endswith(f"/films/film/{key}.effects.flac")
    assert row["score_flac_uri"].endswith(f"/films/film/{key}.score.flac")
    mix, effects, score = (_audio(row[k]) for k in ("flac_uri", "effects_flac_uri", "score_flac_uri"))
    assert mix.shape == effects.shape == score.shape == (120000,)
    assert np.abs(effects.astype(np.float64) + score - mix).max() <= 2 / 2**23  # levelled as in the mix
    assert np.sqrt(np.mean(score**2)) > 1e-3
    tags = decode_flac(storage.read_bytes(row["flac_uri"]))[2]
    assert tags["TALKIE_CUT_KEY"] == key and '"cues":[[true,"neutral"' in tags[SCORE_TAG]
    assert decode_flac(storage.read_bytes(row["score_flac_uri"]))[2][STEM_TAG] == "score"
    # the effects stem is the film track the same takes give without music, at the mix's gain
    plain_output = str(tmp_path / "plain")
    plain_plan = plan_film(film, SETTINGS)
    [plain] = run_fn(plain_output, plain_plan, write_takes(plain_output, plain_plan, BEST_0))["films"]
    assert plain["score_flac_uri"] is None and plain["effects_flac_uri"] is None
    track = _audio(plain["flac_uri"])
    loud = np.abs(track) > 1e-3
    assert np.ptp(effects[loud] / track[loud]) < 1e-3 * np.abs(effects[loud] / track[loud]).mean()
    # the cue sheet, per scene
    cues = [{k: v for k, v in s.items() if k.startswith("score_")} for s in rows["scenes"]]
    assert (
        cues
        == [
            {
                "score_sounds": True,
                "score_mood": "neutral",
                "score_tempo_bpm": cues[0]["score_tempo_bpm"],
                "score_key": "C major",
                "score_instrument": "piano",
                "score_hits": True,
            }
        ]
        * 2
        and 88 <= cues[0]["score_tempo_bpm"] <= 108
    )
    # the MKV: the mix as the default audio, then the two stems, each titled; the video untouched
    assert video_packets_digest(row["video_uri"]) == video_packets_digest(film.job.video_input)
    with av.open(row["video_uri"]) as mkv:
        audio = mkv.streams.audio
        titles = [s.metadata.get("title") for s in audio]
        defaults = [bool(s.disposition & av.stream.Disposition.default) for s in audio]
    assert titles == ["Talkie mix (effects and score)", "Talkie effects", "Talkie score"]
    assert defaults == [True, False, False]


@needs_synth
def test_the_score_follows_the_chosen_takes_seeds_the_hits_and_the_flags(film, tmp_path):
    output = str(tmp_path)
    plan = plan_film(film, MUSIC)
    [first] = run_fn(output, plan, write_takes(output, plan, BEST_0, motion=(0.25, 0.75)))["films"]
    kept = {u: storage.read_bytes(first[u]) for u in ("flac_uri", "video_uri", "score_flac_uri")}
    score = _audio(first["score_flac_uri"])

    # equal inputs, equal bytes (force rewrites them)
    [again] = run_fn(output, plan, write_takes(output, plan, BEST_0, motion=(0.25, 0.75)), force=True)[
        "films"
    ]
    assert again == first and all(storage.read_bytes(first[u]) == data for u, data in kept.items())

    # another take in scene 0: its seed gives scene 0 other music (and scene 1's lead-in may change)
    [other] = run_fn(output, plan, write_takes(output, plan, BEST_1, motion=(0.25, 0.75)))["films"]
    assert other["cut_key"] != first["cut_key"]
    assert not np.array_equal(_audio(other["score_flac_uri"])[:60000], score[:60000])

    # no motion onsets known: no hits, another score under another key
    [no_hits] = run_fn(output, plan, write_takes(output, plan, BEST_0, motion=None))["films"]
    assert no_hits["cut_key"] not in (first["cut_key"], other["cut_key"])
    assert not np.array_equal(_audio(no_hits["score_flac_uri"]), score)

    # another instrument: a new cut beside the old one, which stays as it was
    takes = write_takes(output, plan, BEST_0, motion=(0.25, 0.75))
    organ = run_fn(output, plan, takes, score=ScoreSettings(instrument="organ"))
    assert organ["films"][0]["cut_key"] != first["cut_key"]
    assert {s["score_instrument"] for s in organ["scenes"]} == {"organ"}
    assert all(storage.read_bytes(first[u]) == data for u, data in kept.items())

    # the score off: today's cut, key and all, and no stems
    off = run_fn(output, plan, takes, score=ScoreSettings(mode="off"))
    [row] = off["films"]
    assert row["cut_key"] == AssemblySettings().cut_key([t.unit.key for t in takes if t.unit.take == 0])
    assert row["score_flac_uri"] is None and row["effects_flac_uri"] is None
    assert {s["score_sounds"] for s in off["scenes"]} == {False}
    assert not storage.exists(film_stem_uris(output, "film", row["cut_key"])[1])
    with av.open(row["video_uri"]) as mkv:
        assert [s.metadata.get("title") for s in mkv.streams.audio] == ["Talkie soundtrack"]


def test_score_flags_are_checked():
    with pytest.raises(ValueError, match="score 'loud'"):
        ScoreSettings(mode="loud")
    with pytest.raises(ValueError, match="score_instrument 'banjo'"):
        ScoreSettings(instrument="banjo")
