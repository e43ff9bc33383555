"""Bad input is data, not a crash: the restore job over one collection of unusable and odd files
beside two good foley-world films (issue 5, "Failure handling" and "Hostile input").

What each file must give (docs/design.md, "Rules": "Bad input is data, not a crash ... Very short
films still get correct output"):

| file                              | outcome                                                     |
| --------------------------------- | ----------------------------------------------------------- |
| zero_bytes.mp4                    | failure, probe_and_shard, UnreadableMedia "empty (0 bytes)"  |
| random_bytes.mp4                  | failure, probe_and_shard, UnreadableMedia "cannot open"      |
| truncated.mp4 (index at the end)  | failure, probe_and_shard, UnreadableMedia "cannot open"      |
| truncated_faststart.mp4 (index    | failure, probe_and_shard, CorruptVideo "cannot decode the    |
|   first, a third of frames lost)  |   video past frame N": its length is unknown                 |
| picture.mp4 (a PNG)               | failure, probe_and_shard, StillImage "still image"           |
| audio_only.mkv                    | failure, probe_and_shard, NoVideoStream "no video stream"    |
| does_not_exist.mp4                | failure, probe_and_shard, FileNotFoundError "No such file"   |
| a 304-character file name         | failure, probe_and_shard, OSError "File name too long"       |
| a row with film_id ../../escape   | failure, read_manifest, ManifestError "not a safe path"      |
| one_frame.mp4                     | output: one scene of the nominal frame duration (1/24 s)     |
| short_0.3s.mp4                    | output: 0.3 s, peak-normalised (too short for BS.1770)       |
| odd_33x17.mp4                     | output (H.264 4:4:4 really at 33x17)                         |
| rotated_90.mp4                    | output, the MKV keeps the 90 degree display rotation         |
| vfr.mp4                           | output, duration from the irregular PTS (last + median)      |
| two foley-world films             | output                                                       |

"Output" means: a films row with status done; a film FLAC of exactly round(duration * 48000)
samples, duration from the packets' PTS (last PTS + median frame duration - first PTS, docs/design.md
"Time"); an MKV whose video packets are the source's and whose FLAC track has those samples;
scenes rows that tile the film; takes rows whose stems exist. Nothing is written outside OUTPUT.
A second run over the same OUTPUT, after the missing film has arrived, restores it, fails the
other bad files again and skips every unit the first run finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from media.flac import decode_flac
from media.mux import video_packets_digest
from model.synth import SynthConfig, write_collection
from pipelines.restore import RestoreSummary, run
from tests.conftest import IN_PROCESS, _audio_only, _png_named_mp4
from tests.films import encode, textured_shots
from tests.transforms.generation import save_small_checkpoint
from transforms.manifest import derive_film_id
from transforms.tables import read_table

OUTPUT_RATE = 48000
ESCAPE_ID = "../../escape"
LONG_NAME = "very long name " * 20 + ".mp4"  # 304 characters: more than a file name may have
ARRIVES_LATER = "does_not_exist.mp4"  # missing in the first run, copied in before the second
VFR_STEPS_MS = [40, 40, 80, 40, 120, 40, 40, 60, 40, 40, 100, 40, 40, 40, 40, 40, 80, 40, 40, 40]


@dataclass(frozen=True)
class Failed:
    stage: str
    error_type: str
    message: str  # a phrase the error must contain


@dataclass(frozen=True)
class Restored:
    duration: Fraction  # the film's exact duration, worked out here from what was written
    loudness: str  # the track's loudness method: "bs1770", or "peak" below BS.1770's 0.4 s gate
    rotation: int = 0


# ----------------------------------------------------------------------------- odd films


def random_frames(count: int, height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3)).astype(np.uint8)


def write_h264(
    path: Path,
    frames: np.ndarray,
    *,
    fps: int = 24,
    pix_fmt: str = "yuv420p",
    pts_ms: list[int] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """(T, H, W, 3) frames as H.264 in MP4; ``pts_ms`` gives each frame's own timestamp (VFR).

    4:2:0 needs even sizes; with ``pix_fmt="yuv444p"`` x264 takes any size."""
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        stream.options = {"threads": "1"}
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[index], Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def packet_pts(path: str) -> tuple[list[int], Fraction]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        return sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size), Fraction(
            stream.time_base
        )


def exact_duration(path: str, *, nominal_fps: int | None = None) -> Fraction:
    """docs/design.md's film duration from packet PTS; a one-frame film lasts one nominal frame."""
    pts, time_base = packet_pts(path)
    if len(pts) == 1:
        return Fraction(1, nominal_fps)
    return (pts[-1] + int(np.median(np.diff(pts))) - pts[0]) * time_base


def display_rotation(path: str) -> int:
    with av.open(path) as container:
        for frame in container.decode(video=0):
            return int(frame.rotation) % 360
    raise AssertionError(f"{path}: no frame")


# ----------------------------------------------------------------------------- the collection


@dataclass(frozen=True)
class Collection:
    root: Path  # everything the test writes is under here
    output: Path  # OUTPUT, inside root
    manifest: Path
    expected: dict[str, Failed | Restored]  # by the video_input of each row (the escape row: its source)
    film_ids: dict[str, str]  # expected film_id of each film that gets output, by video_input


def build_collection(root: Path) -> Collection:
    films = root / "films"
    films.mkdir(parents=True)
    small = dict(width=64, height=48, classes=("impact", "footsteps"), fade_prob=0.0, cadence_prob=0.0)
    good_rows = write_collection(
        films / "foley",
        films=2,
        seed=31,
        workers=1,
        config=SynthConfig(min_shots=2, max_shots=2, shot_seconds=(1.0, 1.5), **small),
    )

    rng = np.random.default_rng(5)
    whole = write_h264(films / "whole.mp4", random_frames(12, 32, 48, seed=1)).read_bytes()
    faststart = write_h264(
        films / "faststart.mp4", random_frames(24, 32, 48, seed=2), options={"movflags": "faststart"}
    ).read_bytes()
    (films / "zero_bytes.mp4").write_bytes(b"")
    (films / "random_bytes.mp4").write_bytes(rng.bytes(50_000))
    (films / "truncated.mp4").write_bytes(whole[: len(whole) // 2])  # the moov index (at the end) is lost
    (films / "truncated_faststart.mp4").write_bytes(
        faststart[: len(faststart) * 2 // 3]
    )  # index first: frames lost
    for name in ("whole.mp4", "faststart.mp4"):
        os.remove(films / name)
    _png_named_mp4(films / "picture.mp4")
    _audio_only(films / "audio_only.mkv")
    encode(films / "one_frame.mp4", textured_shots([1], size=(32, 48), seed=3))
    write_h264(films / "short_0.3s.mp4", random_frames(6, 32, 48, seed=4), fps=20)
    write_h264(films / "odd_33x17.mp4", random_frames(24, 17, 33, seed=5), pix_fmt="yuv444p")
    encode(films / "rotated_90.mp4", textured_shots([24], size=(32, 48), seed=6), rotation=90)
    write_h264(
        films / "vfr.mp4",
        random_frames(len(VFR_STEPS_MS) + 1, 32, 48, seed=7),
        pts_ms=np.cumsum([0, *VFR_STEPS_MS]).tolist(),
    )

    def path(name: str) -> str:
        return str(films / name)

    expected: dict[str, Failed | Restored] = {
        path("zero_bytes.mp4"): Failed("probe_and_shard", "UnreadableMedia", "the file is empty (0 bytes)"),
        path("random_bytes.mp4"): Failed(
            "probe_and_shard", "UnreadableMedia", "cannot open it as a media container"
        ),
        path("truncated.mp4"): Failed(
            "probe_and_shard", "UnreadableMedia", "cannot open it as a media container"
        ),
        # The index lists 24 frames; 16 packets remain, the last cut short, and fewer decode.
        path("truncated_faststart.mp4"): Failed(
            "probe_and_shard", "CorruptVideo", "cannot decode the video past frame"
        ),
        path("picture.mp4"): Failed("probe_and_shard", "StillImage", "a still image"),
        path("audio_only.mkv"): Failed("probe_and_shard", "NoVideoStream", "no video stream"),
        path("does_not_exist.mp4"): Failed("probe_and_shard", "FileNotFoundError", "No such file"),
        path(LONG_NAME): Failed("probe_and_shard", "OSError", "File name too long"),
        path("one_frame.mp4"): Restored(Fraction(1, 24), loudness="peak"),
        path("short_0.3s.mp4"): Restored(Fraction(3, 10), loudness="peak"),
        path("odd_33x17.mp4"): Restored(Fraction(1), loudness="bs1770"),
        path("rotated_90.mp4"): Restored(Fraction(1), loudness="bs1770", rotation=90),
        path("vfr.mp4"): Restored(
            Fraction(sum(VFR_STEPS_MS) + 40, 1000), loudness="bs1770"
        ),  # median step 40 ms
    }
    for row in good_rows:
        truth = json.loads((films / "foley" / row["video_input"]).with_suffix(".json").read_text())
        expected[str(films / "foley" / row["video_input"])] = Restored(
            Fraction(truth["frames"], truth["fps"]), loudness="bs1770"
        )

    rows = [{**r, "video_input": f"foley/{r['video_input']}"} for r in good_rows]
    rows += [{"video_input": Path(p).name} for p in expected if Path(p).parent == films]
    # The escape row names a good film: were its film_id not refused, outputs would land in ROOT/escape.
    rows.append({"video_input": f"foley/{good_rows[0]['video_input']}", "film_id": ESCAPE_ID})
    manifest = films / "collection.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))

    film_ids = {str(films / "foley" / row["video_input"]): row["film_id"] for row in good_rows}
    for uri, outcome in expected.items():
        if isinstance(outcome, Restored) and uri not in film_ids:
            film_ids[uri] = derive_film_id(uri, hashlib.sha256(Path(uri).read_bytes()).hexdigest())
    return Collection(root=root, output=root / "out", manifest=manifest, expected=expected, film_ids=film_ids)


def tree(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (outside ``skip``), by relative path; folders as 'dir'."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        out[str(path.relative_to(folder))] = (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        )
    return out


@dataclass(frozen=True)
class Run:
    summary: RestoreSummary
    outside_before: dict[str, str]
    outside_after: dict[str, str]


def restore(collection: Collection, checkpoint: str) -> Run:
    watched = collection.root.parent  # the tmp tree around the collection, OUTPUT left out
    before = tree(watched, skip=collection.output)
    summary = run(
        [
            "--input",
            str(collection.manifest),
            "--output",
            str(collection.output),
            "--checkpoint",
            checkpoint,
            "--steps",
            "2",
            "--batch_size",
            "4",
            "--positive_prompt",
            "a quiet room",
        ],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    return Run(summary, before, tree(watched, skip=collection.output))


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Collection:
    return build_collection(tmp_path_factory.mktemp("bad_input") / "collection")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return save_small_checkpoint(tmp_path_factory.mktemp("bad_input_ckpt") / "small.safetensors")


@pytest.fixture(scope="module")
def first(collection, checkpoint) -> Run:
    return restore(collection, checkpoint)


@pytest.fixture(scope="module")
def second(first, collection, checkpoint) -> Run:
    """The same manifest again, after the missing film has arrived (a copy of the 0.3 s film)."""
    films = collection.manifest.parent
    shutil.copyfile(films / "short_0.3s.mp4", films / ARRIVES_LATER)
    return restore(collection, checkpoint)


# ------------------------------------------------------------------------- the odd files are what they say


def test_the_odd_films_are_really_odd(collection):
    films = collection.manifest.parent
    with av.open(str(films / "odd_33x17.mp4")) as container:
        context = container.streams.video[0].codec_context
        assert (context.width, context.height) == (33, 17)
    assert display_rotation(str(films / "rotated_90.mp4")) == 90
    pts, time_base = packet_pts(str(films / "vfr.mp4"))
    assert len(set(np.diff(pts))) > 1 and pts[-1] * time_base == Fraction(sum(VFR_STEPS_MS), 1000)
    assert len(packet_pts(str(films / "one_frame.mp4"))[0]) == 1
    assert len(packet_pts(str(films / "short_0.3s.mp4"))[0]) == 6
    with av.open(str(films / "audio_only.mkv")) as container:
        assert not container.streams.video and container.streams.audio
    with av.open(str(films / "truncated_faststart.mp4")) as container:  # opens; its tail is gone
        assert container.streams.video[0].frames == 24
    assert (films / "picture.mp4").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (films / "does_not_exist.mp4").exists()


# ----------------------------------------------------------------------------- the first run


def failures_by_uri(output: Path, run_id: str) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in read_table(str(output), "failures", run_id=run_id).to_pylist():
        rows.setdefault(row["uri"], []).append(row)
    return rows


def test_every_bad_file_gets_one_clear_failure_row(first, collection):
    failures = failures_by_uri(collection.output, first.summary.run_id)
    for uri, outcome in collection.expected.items():
        if not isinstance(outcome, Failed):
            continue
        [row] = failures.pop(uri, [None])
        assert row is not None, f"{uri}: no failures row"
        assert (row["stage"], row["error_type"]) == (outcome.stage, outcome.error_type), row
        assert outcome.message in row["error"] and uri in row["error"], row
        assert row["film_id"] is None, row  # a film_id is derived only from a film that probed
    [escape] = failures.pop(escape_source(collection))
    assert (escape["stage"], escape["error_type"], escape["film_id"]) == (
        "read_manifest",
        "ManifestError",
        None,
    )
    assert "film_id '../../escape' is not a safe path segment" in escape["error"]
    assert failures == {}, f"unexpected failures: {failures}"


def escape_source(collection: Collection) -> str:
    """The escape row's failure names the film its row names (``transforms.manifest.row_uri``)."""
    rows = [json.loads(line) for line in collection.manifest.read_text().splitlines()]
    [row] = [r for r in rows if r.get("film_id") == ESCAPE_ID]
    return str(collection.manifest.parent / row["video_input"])


def test_every_usable_film_is_complete_and_correct(first, collection):
    output = str(collection.output)
    films = {f["uri"]: f for f in read_table(output, "films", run_id=first.summary.run_id).to_pylist()}
    scenes = read_table(output, "scenes", run_id=first.summary.run_id).to_pylist()
    takes = read_table(output, "takes", run_id=first.summary.run_id).to_pylist()
    restored = {uri: o for uri, o in collection.expected.items() if isinstance(o, Restored)}
    assert set(films) == set(restored)
    for uri, outcome in restored.items():
        film = films[uri]
        assert film["status"] == "done" and film["film_id"] == collection.film_ids[uri], film
        duration = outcome.duration
        assert duration == exact_duration(uri, nominal_fps=24), uri  # the table's claim, worked out twice
        samples = round(duration * OUTPUT_RATE)
        assert film["duration_s"] == pytest.approx(float(duration), abs=1e-9), uri
        audio, rate, tags = decode_flac(storage.read_bytes(film["flac_uri"]))
        assert (rate, audio.shape) == (OUTPUT_RATE, (samples,)), uri
        assert json.loads(tags["TALKIE_LOUDNESS"])["method"] == outcome.loudness, uri
        assert np.abs(audio).max() > 0, f"{uri}: the track is silent"

        assert Path(film["video_uri"]).parent == collection.output / "films" / film["film_id"]
        assert video_packets_digest(film["video_uri"]) == video_packets_digest(uri), uri
        with av.open(film["video_uri"]) as mkv:
            # (``stream.disposition.default`` would be the enum member, always true: test the bit)
            [soundtrack] = [s for s in mkv.streams.audio if s.disposition & av.stream.Disposition.default]
            assert soundtrack.metadata.get("TALKIE_CUT_KEY") == film["cut_key"], uri
            mkv_samples = sum(f.samples for f in mkv.decode(soundtrack))
        assert mkv_samples == samples, uri
        assert display_rotation(film["video_uri"]) == outcome.rotation, uri

        own = sorted((s for s in scenes if s["film_id"] == film["film_id"]), key=lambda s: s["scene_index"])
        assert (
            own and own[0]["start_s"] == 0 and own[-1]["end_s"] == pytest.approx(float(duration), abs=1e-9)
        ), uri
        assert all(a["end_pts"] == b["start_pts"] for a, b in zip(own, own[1:])), uri
        own_takes = [t for t in takes if t["film_id"] == film["film_id"]]
        assert sorted(t["scene_index"] for t in own_takes) == [s["scene_index"] for s in own], uri
        for take in own_takes:
            assert hashlib.sha256(storage.read_bytes(take["flac_uri"])).hexdigest() == take["flac_sha256"]


def test_the_summary_counts_what_the_tables_hold(first, collection):
    failed = [o for o in collection.expected.values() if isinstance(o, Failed)]
    restored = [o for o in collection.expected.values() if isinstance(o, Restored)]
    summary = first.summary
    assert (summary.films, summary.films_done) == (len(restored), len(restored))
    assert summary.failures_by_stage == {"probe_and_shard": len(failed), "read_manifest": 1}
    assert summary.units_skipped == 0 and summary.units_generated == summary.takes > 0


def test_nothing_is_written_outside_output(first, collection):
    assert first.outside_after == first.outside_before
    assert not list(collection.root.parent.parent.rglob("escape"))  # this session's whole tmp tree
    assert not (collection.output / "audio" / ESCAPE_ID).resolve().exists()
    assert not (Path.cwd() / ESCAPE_ID).resolve().exists()
    written = [p for p in collection.output.rglob("*") if p.is_file()]
    assert written and all(p.resolve().is_relative_to(collection.output.resolve()) for p in written)
    top = {p.relative_to(collection.output).parts[0] for p in written}
    assert top <= {"audio", "ledger", "films", "meta", "report"}  # docs/design.md, "Output layout"


# ----------------------------------------------------------------------------- the second run


def test_a_second_run_retries_the_failures_and_skips_the_finished_units(first, second, collection):
    """A film that failed is tried again: the one that has arrived is restored, the others fail as
    before, and every unit finished by the first run is skipped."""
    arrived = str(collection.manifest.parent / ARRIVES_LATER)
    one = failures_by_uri(collection.output, first.summary.run_id)
    two = failures_by_uri(collection.output, second.summary.run_id)
    assert one.pop(arrived)[0]["error_type"] == "FileNotFoundError"
    assert {u: [(r["stage"], r["error_type"]) for r in rows] for u, rows in two.items()} == {
        u: [(r["stage"], r["error_type"]) for r in rows] for u, rows in one.items()
    }
    films = {
        f["uri"]: f
        for f in read_table(str(collection.output), "films", run_id=second.summary.run_id).to_pylist()
    }
    new = films.pop(arrived)
    assert new["status"] == "done" and new["film_id"].startswith("does-not-exist-")
    audio, _, _ = decode_flac(storage.read_bytes(new["flac_uri"]))
    assert audio.shape == (round(Fraction(3, 10) * OUTPUT_RATE),)
    assert {f["status"] for f in films.values()} == {"done"} and len(films) == first.summary.films_done
    assert second.summary.units_generated == 1 and second.summary.units_skipped == first.summary.takes
    assert second.outside_after == second.outside_before
