"""The featurize job end to end on tiny foley-world films, plus its pure window arithmetic."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media.audio import decode_audio
from media.decode import decode_range, open_video
from model.config import preset
from model.data import ShardDataset, read_shard
from model.mel import MelSpectrogram
from model.synth import SynthConfig, write_collection
from pipelines import cli
from pipelines.featurize import FeaturizeSummary, run
from pipelines.options import UsageError
from tests.conftest import IN_PROCESS
from tests.films import encode, textured_shots
from transforms.featurize import caption_at, events_in, spread, window_starts
from transforms.manifest import FilmJob, SceneOverride
from transforms.tables import read_table

CONFIG = preset("tiny")  # 4 s windows, 1 s overlap, 16 fps 64x64 gray, 64 mels at 16 kHz, hop 250


@dataclass(frozen=True)
class Corpus:
    manifest: Path
    rows: dict[str, dict]  # manifest row by absolute video path
    truth: dict[str, dict]  # truth JSON by absolute video path
    silent: str


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    """Two films of two 2.5-3.5 s shots with impacts and footsteps, one 2-2.5 s film (padded), one silent
    video."""
    folder = tmp_path_factory.mktemp("featurize_corpus")
    small = dict(width=64, height=48, classes=("impact", "footsteps"), fade_prob=0.0)
    longer = SynthConfig(min_shots=2, max_shots=2, shot_seconds=(2.5, 3.5), **small)
    short = SynthConfig(min_shots=1, max_shots=1, shot_seconds=(2.0, 2.5), **small)
    rows = []
    for sub, films, seed, config in (("a", 2, 5, longer), ("b", 1, 6, short)):
        for row in write_collection(folder / sub, films=films, seed=seed, config=config, workers=1):
            rows.append({**row, "video_input": str(folder / sub / row["video_input"])})
    silent = str(encode(folder / "silent.mp4", textured_shots([24], size=(48, 64), seed=2)))
    manifest = folder / "manifest.jsonl"
    lines = [json.dumps(r) for r in rows] + [json.dumps({"video_input": silent, "film_id": "silent"})]
    manifest.write_text("\n".join(lines) + "\n")
    truth = {
        r["video_input"]: json.loads(Path(r["video_input"]).with_suffix(".json").read_text()) for r in rows
    }
    return Corpus(manifest, {r["video_input"]: r for r in rows}, truth, silent)


def _run(corpus: Corpus, output: Path, *flags: str) -> FeaturizeSummary:
    return run(
        ["--input", str(corpus.manifest), "--output", str(output), "--preset", "tiny", *flags],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )


@pytest.fixture(scope="module")
def featurized(corpus, tmp_path_factory) -> tuple[Path, FeaturizeSummary]:
    output = tmp_path_factory.mktemp("featurized")
    return output, _run(corpus, output)


def _expected_starts(truth: dict) -> list[float]:
    duration = Fraction(truth["frames"], truth["fps"])
    return [float(s) for s in window_starts(duration, Fraction(4), Fraction(3))]


def test_window_counts_shapes_and_dtypes(corpus, featurized):
    output, summary = featurized
    expected = sum(len(_expected_starts(t)) for t in corpus.truth.values())
    assert summary.films == 3 and summary.windows == expected and len(summary.shards) == 1
    shard = read_shard(summary.shards[0])
    n, t, f = expected, CONFIG.video_frames, CONFIG.window_frames
    assert shard.frames.shape == (n, t, 64, 64) and shard.frames.dtype == torch.uint8
    assert shard.mel.shape == (n, CONFIG.audio.n_mels, f) and shard.mel.dtype == torch.float16
    assert shard.valid_frames.dtype == torch.int64 and shard.valid_mel.shape == (n,)
    assert shard.meta["config_hash"] == CONFIG.config_hash()
    # Windows come sorted by film and start; each film's starts are the contract's.
    keys = list(zip(shard.meta["film_ids"], shard.meta["start_s"]))
    assert keys == sorted(keys)
    for uri, truth in corpus.truth.items():
        starts = [s for u, s in zip(shard.meta["uris"], shard.meta["start_s"]) if u == uri]
        np.testing.assert_allclose(starts, _expected_starts(truth), atol=1e-6)


def test_frames_and_mel_are_the_films_own(corpus, featurized):
    _, summary = featurized
    shard = read_shard(summary.shards[0])
    mel_of = MelSpectrogram(CONFIG.audio)
    for i, uri in enumerate(shard.meta["uris"]):
        start_s, valid_s = shard.meta["start_s"][i], shard.meta["valid_s"][i]
        with open_video(uri) as (_, stream):
            tb = Fraction(stream.time_base)
        start_pts = round(Fraction(start_s) / tb)
        end_pts = start_pts + math.ceil(Fraction(valid_s) / tb)
        shown = decode_range(uri, start_pts, end_pts, fps=16, width=64, height=64, gray=True)
        valid = int(shard.valid_frames[i])
        assert valid == min(64, math.ceil(valid_s * 16 - 1e-9)) == shown.shape[0]
        np.testing.assert_array_equal(shard.frames[i, :valid].numpy(), shown)
        assert not shard.frames[i, valid:].any()
        audio = decode_audio(uri, sample_rate=16000, start_s=start_s, duration_s=4.0)
        audio[round(valid_s * 16000) :] = 0.0
        with torch.no_grad():
            reference = mel_of(torch.from_numpy(audio)[None])[0]
        np.testing.assert_allclose(shard.mel[i].float().numpy(), reference.numpy(), atol=2e-2, rtol=0)
        assert int(shard.valid_mel[i]) == min(256, math.ceil(round(valid_s * 16000) / 250))


def test_short_film_is_padded_with_its_valid_length(corpus, featurized):
    _, summary = featurized
    shard = read_shard(summary.shards[0])
    short = [u for u, t in corpus.truth.items() if t["duration_s"] < 4.0]
    assert len(short) == 1
    i = shard.meta["uris"].index(short[0])
    duration = corpus.truth[short[0]]["frames"] / corpus.truth[short[0]]["fps"]
    assert shard.meta["start_s"][i] == 0.0 and abs(shard.meta["valid_s"][i] - duration) < 1e-6
    assert int(shard.valid_frames[i]) == math.ceil(duration * 16 - 1e-9) < 64
    assert int(shard.valid_mel[i]) < 256
    floor = math.log(CONFIG.audio.log_floor)
    # Past the film (and beyond the STFT's reach into it) the target is silence.
    assert torch.allclose(
        shard.mel[i, :, int(shard.valid_mel[i]) + 3 :].float(), torch.tensor(floor), atol=1e-2
    )


def test_captions_follow_the_manifest_scene_overrides(corpus, featurized):
    _, summary = featurized
    shard = read_shard(summary.shards[0])
    for uri, start_s, valid_s, caption in zip(
        shard.meta["uris"], shard.meta["start_s"], shard.meta["valid_s"], shard.meta["captions"]
    ):
        middle = start_s + valid_s / 2
        scenes = corpus.rows[uri]["scenes"]
        expected = [s["positive_prompt"] for s in scenes if s["start_s"] <= middle < s["end_s"]]
        assert caption == (expected[0] if expected else corpus.rows[uri]["positive_prompt"])
        assert caption


def test_events_fall_inside_their_windows(corpus, featurized):
    _, summary = featurized
    shard = read_shard(summary.shards[0])
    total = 0
    for uri, start_s, events in zip(shard.meta["uris"], shard.meta["start_s"], shard.meta["events"]):
        truth_times = [e["time_s"] for e in corpus.truth[uri]["events"]]
        assert [e["time_s"] for e in events] == [t for t in truth_times if start_s <= t < start_s + 4.0]
        for event in events:
            assert 0.0 <= event["offset_s"] < 4.0
            assert abs(event["offset_s"] - (event["time_s"] - start_s)) < 1e-9
            assert event["class"] in ("impact", "footsteps")
        total += len(events)
    assert total > 0


def test_a_silent_film_becomes_a_failures_row(corpus, featurized):
    output, summary = featurized
    assert summary.failures_by_stage == {"cut_training_windows": 1}
    failures = read_table(str(output), "failures", run_id=summary.run_id).to_pylist()
    assert [(f["uri"], f["film_id"], f["error_type"]) for f in failures] == [
        (corpus.silent, "silent", "NoAudioStream")
    ]
    assert "silent.mp4" in failures[0]["error"]
    runs = read_table(str(output), "runs", run_id=summary.run_id).to_pylist()
    assert dict(runs[0]["counts"])["windows"] == summary.windows


def test_shard_dataset_reads_the_job_output(featurized):
    output, summary = featurized
    dataset = ShardDataset(str(output), config_hash=CONFIG.config_hash())
    examples = list(dataset)
    shard = read_shard(summary.shards[0])
    assert len(examples) == summary.windows
    assert [e["caption"] for e in examples] == shard.captions
    assert torch.equal(torch.stack([e["frames"] for e in examples]), shard.frames)


def test_same_input_gives_the_same_shards_whatever_the_shard_size(corpus, featurized, tmp_path):
    _, first = featurized
    again = _run(corpus, tmp_path / "again")
    assert Path(first.shards[0]).read_bytes() == Path(again.shards[0]).read_bytes()
    small = _run(corpus, tmp_path / "small", "--shard_size", "2")
    assert len(small.shards) == math.ceil(first.windows / 2)
    whole, parts = read_shard(first.shards[0]), [read_shard(u) for u in small.shards]
    assert torch.equal(torch.cat([p.frames for p in parts]), whole.frames)
    assert torch.equal(torch.cat([p.mel for p in parts]), whole.mel)
    assert sum((p.meta["film_ids"] for p in parts), []) == whole.meta["film_ids"]


def test_windows_per_film_caps_each_film(corpus, tmp_path):
    summary = _run(corpus, tmp_path / "one", "--windows_per_film", "1")
    assert summary.windows == 3 and summary.films == 3
    shard = read_shard(summary.shards[0])
    assert sorted(shard.meta["uris"]) == sorted(corpus.truth)


def test_flags_are_checked_before_anything_runs(corpus, tmp_path):
    base = ["--input", str(corpus.manifest), "--output", str(tmp_path)]
    for bad, flag in (
        ("--preset=huge", "--preset"),
        ("--shard_size=0", "--shard_size"),
        ("--windows_per_film=0", "--windows_per_film"),
        ("--window_hop_s=-1", "--window_hop_s"),
    ):
        with pytest.raises(UsageError, match=flag):
            run([*base, bad])
    assert cli.main(["featurize", "--help"]) == 0


# ----------------------------------------------------------------------------- pure functions


def test_window_starts_cover_the_film_and_end_on_it():
    assert window_starts(Fraction(2), Fraction(4), Fraction(3)) == [0]
    assert window_starts(Fraction(4), Fraction(4), Fraction(3)) == [0]
    assert window_starts(Fraction(17, 3), Fraction(4), Fraction(3)) == [0, Fraction(5, 3)]
    assert window_starts(Fraction(10), Fraction(4), Fraction(3)) == [0, 3, 6]
    assert window_starts(Fraction(11), Fraction(4), Fraction(3)) == [0, 3, 6, 7]
    with pytest.raises(ValueError, match="stride=0"):
        window_starts(Fraction(5), Fraction(4), Fraction(0))


def test_spread_and_captions_and_events():
    assert spread(5, None) == [0, 1, 2, 3, 4] and spread(5, 3) == [0, 2, 4] and spread(5, 1) == [2]
    job = FilmJob(
        "f.mp4",
        None,
        "whole film",
        None,
        None,
        None,
        (
            SceneOverride(None, 0.0, 2.0, "first", None),
            SceneOverride(3, None, None, "by index", None),
            SceneOverride(None, 2.0, 5.0, None, "negative only"),
        ),
        "{}",
    )
    assert caption_at(job, 1.0) == "first" and caption_at(job, 2.0) == "whole film"
    events = [{"time_s": 1.0, "class": "impact", "fine": "wood"}, {"time_s": 5.0, "class": "impact"}]
    assert events_in(events, 1.0, 4.0) == (
        {"offset_s": 0.0, "time_s": 1.0, "class": "impact", "fine": "wood"},
    )
    assert events_in(None, 0.0, 4.0) == ()


def test_a_film_without_a_truth_record_has_unknown_events(corpus, tmp_path):
    """A user's own sound film has no truth JSON: its windows' events are None (unknown), which
    training keeps apart from () (a window where nothing lands)."""
    import shutil

    from transforms.featurize import WindowExample, cut_film, shard_metadata

    uri = next(iter(corpus.truth))
    own = tmp_path / "own_film.mp4"
    shutil.copy(uri, own)
    config = preset("tiny")

    def job(video: str) -> FilmJob:
        return FilmJob(
            video_input=video,
            film_id="f",
            positive_prompt="a film",
            negative_prompt=None,
            takes=None,
            seed=None,
            scenes=(),
            extra="{}",
        )

    unknown, known = cut_film(job(str(own)), "f", config), cut_film(job(uri), "f", config)
    assert unknown and all(w.events is None for w in unknown)
    assert len(known) == len(unknown) and all(isinstance(w.events, tuple) for w in known)
    examples = [
        WindowExample(w, np.zeros((1, 1, 1), np.uint8), np.zeros((1, 1), np.float16), 0, 0)
        for w in unknown + known
    ]
    events = shard_metadata(examples, config)["events"]
    assert events[: len(unknown)] == [None] * len(unknown)
    assert events[len(unknown) :] == [list(w.events) for w in known]
