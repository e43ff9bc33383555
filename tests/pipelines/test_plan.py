"""`talkie plan`: the manifest read as the job reads it, failures as the job records them, the
estimate from given rates, the targets file, the --json schema and the calibration cache."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction

import pytest

from pipelines import plan, plan_calibrate, plan_model
from pipelines.cli import COMMANDS
from pipelines.plan_model import STAGES, FilmWork, Target, TargetsError, Work
from pipelines.plan_probe import probe_header
from tests.films import encode, textured_shots
from transforms.failures import Failure
from transforms.manifest import parse_manifest
from transforms.shard import _ProbeAndShardFn

RATE_KEYS = [key for key, _ in STAGES.values()]


@pytest.fixture(scope="module")
def collection(tmp_path_factory, odd_films):
    """A manifest with two good films, two rows the manifest check refuses and every odd file."""
    folder = tmp_path_factory.mktemp("plan")
    encode(folder / "a.mp4", textured_shots([24, 24, 24], seed=1), fps=24)
    encode(folder / "b.mp4", textured_shots([32], seed=2), fps=16)
    rows = [
        {"video_input": "a.mp4", "film_id": "film-a", "takes": 3},
        {"video_input": "b.mp4", "negative_prompt": "rain", "positive_prompt": "organ music, suspense"},
        {"video_input": "a.mp4", "film_id": "../../escape"},
        {"video_input": "a.mp4", "takes": 0},
    ]
    rows += [{"video_input": odd_films[k]} for k in ("zero_bytes", "random_bytes", "png_named_mp4")]
    rows += [{"video_input": odd_films[k]} for k in ("audio_only", "missing")]
    lines = [json.dumps(r) for r in rows] + ["{not json"]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def job_failures(spec: str) -> list[Failure]:
    """What the restore job records for ``spec`` before generation: ReadManifest's and ProbeAndShard's."""
    jobs, failures = parse_manifest(spec)
    shard = _ProbeAndShardFn(0.5, None)
    shard.setup()
    for job in jobs:
        failures += [out.value for out in shard.process(job) if hasattr(out, "value")]
    return failures


VOCODER = "griffin-lim"  # no weights: the plan's arithmetic does not depend on the vocoder


def run_plan(capsys, *argv: str) -> dict:
    assert plan.main([*argv, "--vocoder", VOCODER, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bad_rows_and_films_are_listed_as_the_job_records_them(collection, capsys):
    report = run_plan(capsys, str(collection), "--target", "h200")
    expected = sorted((dataclasses.asdict(f) for f in job_failures(str(collection))), key=json.dumps)
    assert sorted(report["failures"], key=json.dumps) == expected
    stages = sorted(f["stage"] for f in report["failures"])
    assert stages == ["probe_and_shard"] * 5 + ["read_manifest"] * 3
    assert [f["film_id"] for f in report["films"]] == ["film-a", None]


def test_films_are_read_from_their_headers(collection, capsys):
    report = run_plan(capsys, str(collection), "--target", "h200", "--takes", "2", "--mean_scene_s", "1.5")
    a, b = report["films"]
    assert (a["frames"], a["fps"], a["width"], a["height"], a["codec"]) == (72, 24.0, 128, 96, "h264")
    assert a["duration_s"] == pytest.approx(3.0) and b["duration_s"] == pytest.approx(2.0)
    assert (a["takes"], b["takes"]) == (3, 2)  # the row's takes beat --takes
    assert a["scenes"] == pytest.approx(2.0) and b["scenes"] == pytest.approx(2.0 / 1.5)
    assert (a["negative"], b["negative"], a["music"], b["music"]) == (False, True, False, True)
    totals = report["totals"]
    assert totals["films"] == 2 and totals["failures"] == 8
    assert totals["audio_s"] == pytest.approx(3.0 * 3 + 2.0 * 2)
    assert totals["units"] == pytest.approx(2.0 * 3 + 2.0 / 1.5 * 2)
    assert totals["music_film_s"] == pytest.approx(2.0)


def test_json_schema(collection, calibration_cache, capsys):
    report = run_plan(capsys, str(collection), "--target", "all", "--calibration", str(calibration_cache[0]))
    assert report["schema"] == "talkie.plan/1"
    assert set(report) == {
        "schema",
        "manifest",
        "settings",
        "films",
        "failures",
        "totals",
        "estimates",
        "calibration",
    }
    assert set(report["failures"][0]) == {"uri", "film_id", "stage", "error_type", "error"}
    assert {"uri", "duration_s", "frames", "scenes", "takes", "windows_per_take", "audio_s"} <= set(
        report["films"][0]
    )
    assert {"films", "film_s", "scenes", "units", "windows", "audio_s", "audio_hours"} <= set(
        report["totals"]
    )
    by_target = {e["target"]: e for e in report["estimates"]}
    assert set(by_target) == {"local", "h200", "dataflow-l4"}
    for estimate in by_target.values():
        assert {
            "wall_s",
            "worker_hours",
            "cost",
            "stage_s",
            "fixed_s",
            "missing",
            "source",
            "measured",
        } <= set(estimate)
    assert by_target["h200"]["wall_s"] > 0 and by_target["h200"]["cost"] is None  # no price shipped
    assert by_target["dataflow-l4"]["wall_s"] is None  # nothing measured on an L4
    assert "generate_audio_s_per_s" in by_target["dataflow-l4"]["missing"]


def test_the_text_table_names_films_totals_failures_and_the_estimate(collection, capsys):
    assert plan.main([str(collection), "--target", "h200", "--vocoder", VOCODER]) == 0
    text = capsys.readouterr().out
    assert "film-a" in text and "audio-hours" in text and "estimated wall time" in text
    assert "read_manifest  ManifestError: film_id '../../escape'" in text


def test_a_manifest_the_job_refuses_is_a_usage_error(tmp_path, capsys):
    assert plan.main([str(tmp_path / "none.jsonl"), "--target", "h200", "--vocoder", VOCODER]) == 2
    assert "none.jsonl" in capsys.readouterr().err
    assert plan.main([str(tmp_path / "none.jsonl"), "--target", "nowhere", "--vocoder", VOCODER]) == 2
    assert "--target 'nowhere'" in capsys.readouterr().err


def test_probe_reads_no_frame(tmp_path, monkeypatch):
    path = encode(tmp_path / "f.mp4", textured_shots([10], seed=3), fps=20)
    import av.container

    def refuse(*args, **kwargs):
        raise AssertionError("probe_header decoded a frame")

    monkeypatch.setattr(av.container.InputContainer, "decode", refuse)
    header = probe_header(str(path))
    assert (header.frames, header.duration_from) == (10, "header")
    assert header.duration_s == pytest.approx(0.5)


# ----------------------------------------------------------------------------- the estimate


def target(**changes) -> Target:
    base = Target(
        name="t",
        description="",
        device="cpu",
        workers=1,
        price_per_hour=None,
        currency="EUR",
        rates=dict.fromkeys(RATE_KEYS, 10.0),
        fixed_s=5.0,
        pipeline_factor=1.0,
        rate_steps=20,
        rate_batch_size=8,
        measured="2026-12-07",
        source="test",
    )
    return dataclasses.replace(base, **changes)


def work(**changes) -> Work:
    base = Work(
        films=4,
        film_s=100.0,
        frames=2400,
        scenes=40.0,
        units=80.0,
        windows=80.0,
        audio_s=200.0,
        negative_audio_s=0.0,
        music_film_s=50.0,
        takes=(2,),
    )
    return dataclasses.replace(base, **changes)


def test_estimate_from_given_rates():
    rates = {**dict.fromkeys(RATE_KEYS, 10.0), "generate_audio_s_per_s": 4.0, "stems_audio_s_per_s": 20.0}
    result = plan_model.estimate(
        work(), target(rates=rates, pipeline_factor=1.1), rates, steps=20, batch_size=8
    )
    # film-s stages: 4 x 100/10 ... shots, decode, films, report; score 50/10; generation 200/4; stems 200/20
    expected_stages = 10 + 10 + 50 + 10 + 10 + 5 + 10
    assert sum(result.stage_s.values()) == pytest.approx(expected_stages)
    assert result.wall_s == pytest.approx(5.0 + 1.1 * expected_stages)
    assert result.cost is None


def test_generation_scales_with_steps_and_negative_rows_on_the_cpu_only():
    rates = dict.fromkeys(RATE_KEYS, 10.0)
    plain = plan_model.estimate(work(), target(), rates, steps=20, batch_size=8).stage_s["generation"]
    assert plain == pytest.approx(20.0)
    assert plan_model.estimate(work(), target(), rates, steps=40, batch_size=8).stage_s["generation"] == (
        pytest.approx(40.0)
    )
    negative = work(negative_audio_s=60.0)
    assert plan_model.estimate(negative, target(), rates, steps=20, batch_size=8).stage_s[
        "generation"
    ] == pytest.approx((200 + 60 / 3) / 10)
    on_cuda = plan_model.estimate(negative, target(device="cuda"), rates, steps=20, batch_size=8)
    assert on_cuda.stage_s["generation"] == pytest.approx(20.0)
    assert on_cuda.notes == ()
    other_batch = plan_model.estimate(negative, target(device="cuda"), rates, steps=20, batch_size=32)
    assert "--batch_size 8, not 32" in other_batch.notes[0]


def test_a_per_call_rate_counts_generate_calls_not_audio_seconds():
    rates = {**dict.fromkeys(RATE_KEYS, 10.0), plan_model.PER_BATCH: 3.0}
    calls = plan_model.estimate(work(), target(), rates, steps=20, batch_size=8)
    assert calls.stage_s["generation"] == pytest.approx(10 * 3.0)  # 80 windows in calls of 8
    assert "10 generate calls of up to 8 windows" in calls.notes[-1]
    odd = plan_model.estimate(work(windows=81.0), target(), rates, steps=20, batch_size=8)
    assert odd.stage_s["generation"] == pytest.approx(11 * 3.0)  # a last, partly filled call
    negative = plan_model.estimate(work(negative_audio_s=60.0), target(), rates, steps=40, batch_size=16)
    assert negative.stage_s["generation"] == pytest.approx(5 * 3.0 * (1 + 60 / 200 / 3) * 2)


def test_workers_price_notes_and_missing_rates():
    rates = dict.fromkeys(RATE_KEYS, 10.0)
    four = plan_model.estimate(work(), target(workers=8, price_per_hour=3.0), rates, steps=20, batch_size=8)
    stages = sum(four.stage_s.values())
    assert four.wall_s is not None and four.worker_hours is not None
    assert four.wall_s == pytest.approx(5.0 + stages / 4)  # 4 films: at most 4 workers busy
    assert four.worker_hours == pytest.approx(four.wall_s * 8 / 3600)
    assert four.cost == pytest.approx(four.worker_hours * 3.0)
    included = {**rates, "decode_film_s_per_s": "in stems_audio_s_per_s"}
    assert plan_model.estimate(work(), target(), included, steps=20, batch_size=8).stage_s["decode"] == 0.0
    partial = {k: v for k, v in rates.items() if k != "report_film_s_per_s"}
    missing = plan_model.estimate(work(), target(fixed_s=None), partial, steps=20, batch_size=8)
    assert missing.wall_s is None and missing.cost is None
    assert missing.missing == ("report_film_s_per_s", "fixed_s")


def test_scene_and_window_counts_follow_the_job():
    from transforms.units import describe_checkpoint, plan_unit_windows

    config = describe_checkpoint(None).config
    fps = config.video.fps
    stride = int(Fraction(str(config.window.stride_s)) * fps)
    for seconds in (0.3, 2.0, 4.0, 4.05, 7.0, 10.0, 61.3):
        _, _, windows = plan_unit_windows(1, Fraction(seconds), config, stride)
        assert plan_model.windows_per_scene(seconds, fps, config.video_frames, stride) == len(windows), (
            seconds
        )
    assert plan_model.estimated_scenes(10.0, 2.5, 0.5) == 4.0
    assert plan_model.estimated_scenes(1.0, 2.5, 0.5) == 1.0
    assert plan_model.estimated_scenes(3.0, 0.1, 0.5) == 6.0  # --min_scene_s bounds the count


def test_totals():
    film = FilmWork("f.mp4", None, 10.0, 240, 24.0, 64, 48, "h264", "header", 2, 4.0, 5.0, True, False)
    totals = plan_model.totals([film, dataclasses.replace(film, takes=1, negative=False, music=True)])
    assert (totals.film_s, totals.audio_s, totals.negative_audio_s, totals.music_film_s) == (20, 30, 20, 10)
    assert (totals.units, totals.windows, totals.takes) == (12.0, 15.0, (1, 2))


# ----------------------------------------------------------------------------- the targets file


def test_shipped_targets_cite_what_they_measured():
    targets, scenes = plan_model.load_targets()
    assert scenes["mean_scene_s"] > 0 and scenes["source"]
    assert targets["local"].rates == {plan_model.CALIBRATED: True}
    for t in targets.values():
        numbers = [v for v in t.rates.values() if isinstance(v, float)]
        if numbers:  # a figure ships only with its date and where it was measured
            assert t.measured and t.source and "docs/benchmarks.md" in t.source
        assert t.price_per_hour is None  # prices are the user's to set


@pytest.mark.parametrize(
    "text, message",
    [
        ('schema = "x"', "schema"),
        ('schema = "talkie.targets/1"\n[scenes]\nmean_scene_s = 0', "mean_scene_s"),
        ('schema = "talkie.targets/1"\n[scenes]\nmean_scene_s = 2\n[targets.a]\nworkers = 0', "workers"),
        (
            'schema = "talkie.targets/1"\n[scenes]\nmean_scene_s = 2\n[targets.a.rates]\nspeed = 3',
            "unknown rate 'speed'",
        ),
        ('schema = "talkie.targets/1"\n[scenes]\nmean_scene_s = 2\n[targets.a]\ndevice = "tpu"', "device"),
        ("schema = ", "not valid TOML"),
    ],
)
def test_bad_targets_files_are_refused(tmp_path, text, message):
    path = tmp_path / "targets.toml"
    path.write_text(text)
    with pytest.raises(TargetsError, match=message):
        plan_model.load_targets(path)


def test_a_targets_file_with_a_price_gives_a_cost(collection, tmp_path, capsys):
    shipped = plan_model.TARGETS_FILE.read_text()
    path = tmp_path / "targets.toml"
    h200 = 'workers = 1\nmeasured = "2026-11-26"'
    assert h200 in shipped
    path.write_text(shipped.replace(h200, 'workers = 2\nprice_per_hour = 10.0\nmeasured = "2026-11-26"'))
    report = run_plan(capsys, str(collection), "--target", "h200", "--targets", str(path))
    (estimate,) = report["estimates"]
    assert estimate["workers"] == 2 and estimate["cost"] == pytest.approx(estimate["worker_hours"] * 10.0)


# ----------------------------------------------------------------------------- local calibration


@pytest.fixture(scope="module")
def calibration_cache(tmp_path_factory):
    """A calibration record for the default settings on this machine: every rate 2 per second."""
    settings = plan.plan_settings(plan_args(), 2.38)
    generation = settings.generation
    key = plan_calibrate.settings_key(generation.checkpoint_sha256, 20, 8, "euler", generation.vocoder)
    record = {
        "schema": plan_calibrate.CACHE_SCHEMA,
        "measured_at": "2026-12-07T00:00:00+00:00",
        "machine": plan_calibrate.machine(),
        "load_average": [1.0, 1.0, 1.0],
        "settings": key,
        "fixed_s": 7.0,
        "rates": dict.fromkeys(RATE_KEYS, 2.0),
        "rate_steps": 20,
    }
    cache = tmp_path_factory.mktemp("calibration") / "calibration.json"
    plan_calibrate.write_cache(cache, record)
    return cache, key, record


def test_local_uses_a_cached_calibration_for_the_same_settings(collection, calibration_cache, capsys):
    cache, key, record = calibration_cache
    assert plan_calibrate.cached(cache, key) == record
    assert plan_calibrate.cached(cache, {**key, "steps": 10}) is None
    report = run_plan(capsys, str(collection), "--calibration", str(cache))
    (local,) = report["estimates"]
    assert local["target"] == "local" and local["fixed_s"] == 7.0
    t = report["totals"]
    # shots, decode, films, report per film-second; score per music film-second; stems per
    # audio-second; generation per audio-second plus a third for audio with a negative prompt
    work = 4 * t["film_s"] + t["music_film_s"] + t["audio_s"] + t["audio_s"] + t["negative_audio_s"] / 3
    assert t["negative_audio_s"] > 0
    assert local["wall_s"] == pytest.approx(7.0 + 1.03 * work / 2.0)
    assert report["calibration"]["cache"] == str(cache)


def plan_args(**changes):
    values = dict(
        checkpoint=None,
        steps=None,
        takes=1,
        batch_size=8,
        sampler=None,
        positive_prompt=None,
        negative_prompt=None,
        score="auto",
        score_instrument=None,
        min_scene_s=0.5,
        mean_scene_s=None,
        vocoder=VOCODER,
    )
    import argparse

    return argparse.Namespace(**{**values, **changes})


def test_calibration_measures_every_stage():
    settings = plan.plan_settings(plan_args(steps=1), 2.38)
    generation = settings.generation
    key = plan_calibrate.settings_key(generation.checkpoint_sha256, 1, 8, "euler", generation.vocoder)
    record = plan_calibrate.calibrate(["--steps", "1", "--batch_size", "8", "--vocoder", VOCODER], key)
    assert set(record["rates"]) == {*RATE_KEYS, plan_model.PER_BATCH}
    assert record["rates"][plan_model.PER_BATCH] > 0
    for name, value in record["rates"].items():
        assert isinstance(value, str) or value > 0, name
    assert record["fixed_s"] > 0 and record["rate_steps"] == 1
    assert record["film"]["scenes"] >= 1 and record["film"]["windows"] >= record["film"]["scenes"]


def test_talkie_has_the_plan_command():
    assert COMMANDS["plan"][0] == "pipelines.plan"
