"""Fixtures shared by the transform and pipeline tests: real clips, bad inputs, Beam runner flags."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from tests.films import encode, textured_shots

TestPipeline.__test__ = False  # a Beam class whose name pytest would otherwise try to collect

REPO = Path(__file__).resolve().parents[1]
# CI runs in a fresh clone with shared/ beside it; the clips are never copied into the repository.
REAL_CLIPS = REPO / ".." / "shared" / "testdata" / "real"

# DirectRunner would first try to download the Prism runner; name an in-process runner instead.
IN_PROCESS = ["--runner=FnApiRunner"]


@pytest.fixture(scope="session", autouse=True)
def _workers_import_the_repository():
    """Subprocesses (the CLI, multi-process Beam workers) import media/, transforms/, pipelines/."""
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    yield
    if previous is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = previous


@pytest.fixture(scope="session")
def real_clips() -> dict[str, dict]:
    """clips.json's facts by file name, each with its absolute ``path``; skips when absent."""
    facts = REAL_CLIPS / "clips.json"
    if not facts.exists():
        pytest.skip(f"real clips are absent ({REAL_CLIPS.resolve()})")
    clips = json.loads(facts.read_text())["clips"]
    return {c["file"]: {**c, "path": str((REAL_CLIPS / c["file"]).resolve())} for c in clips}


def _png_named_mp4(path: Path) -> Path:
    with av.open(str(path), "w", format="image2pipe") as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")))
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def odd_films(tmp_path_factory) -> dict[str, str]:
    """Inputs a collection really contains, by kind: unusable files, a missing path, a one-frame film.

    Every kind but ``one_frame`` must fail (a PNG opens in FFmpeg as a one-frame still, and a
    still is not a film).
    """
    folder = tmp_path_factory.mktemp("odd")
    rng = np.random.default_rng(7)
    whole = encode(folder / "whole.mp4", textured_shots([12], size=(32, 48), seed=1)).read_bytes()
    (folder / "zero_bytes.mp4").write_bytes(b"")
    (folder / "random_bytes.mp4").write_bytes(rng.bytes(50_000))
    (folder / "truncated.mp4").write_bytes(whole[: len(whole) // 2])  # frames kept, index cut off
    os.remove(folder / "whole.mp4")
    return {
        "zero_bytes": str(folder / "zero_bytes.mp4"),
        "random_bytes": str(folder / "random_bytes.mp4"),
        "truncated": str(folder / "truncated.mp4"),
        "png_named_mp4": str(_png_named_mp4(folder / "picture.mp4")),
        "audio_only": str(_audio_only(folder / "audio_only.mkv")),
        "missing": str(folder / "does_not_exist.mp4"),
        "one_frame": str(encode(folder / "one_frame.mp4", textured_shots([1], size=(32, 48), seed=2))),
    }
