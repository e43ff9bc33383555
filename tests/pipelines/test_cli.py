"""The command line: `python -m pipelines.scenes` in a subprocess, and the `talkie` dispatcher."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from pipelines.cli import main as talkie
from tests.conftest import REAL_CLIPS, REPO
from tests.films import encode, textured_shots
from transforms.tables import read_table


def python_m(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_scenes_module_runs_the_job_on_a_glob(tmp_path, odd_films):
    films = tmp_path / "films"
    films.mkdir()
    encode(films / "two_shots.mp4", textured_shots([24, 24], seed=3))
    shutil.copy(odd_films["zero_bytes"], films / "empty.mp4")
    real = REAL_CLIPS / "roundhay_garden_1888.mp4"
    if real.exists():
        shutil.copy(real, films / "roundhay.mp4")
    expected_films = 2 if real.exists() else 1
    out = tmp_path / "out"
    done = python_m(
        "pipelines.scenes", "--input", str(films / "*.mp4"), "--output", str(out), "--runner=FnApiRunner"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f": {expected_films} films, " in done.stdout and "1 failures (probe_and_shard 1)" in done.stdout
    scenes = read_table(str(out), "scenes")
    assert scenes.num_rows == expected_films + 1  # two_shots has a cut at frame 24; roundhay is one shot
    [failure] = read_table(str(out), "failures").to_pylist()
    assert failure["uri"] == str(films / "empty.mp4") and failure["error_type"] == "UnreadableMedia"
    assert len(list((out / "shotlists").iterdir())) == 2 * expected_films


def test_importing_the_jobs_does_not_import_torch():
    done = python_m("pipelines.scenes", "--help", timeout=120)
    assert done.returncode == 0 and "--min_scene_s" in done.stdout
    check = "import sys, pipelines.scenes, pipelines.cli; assert 'torch' not in sys.modules"
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_talkie_lists_its_commands_and_refuses_unknown_ones(capsys):
    assert talkie([]) == 2
    assert "scenes" in capsys.readouterr().err
    assert talkie(["--help"]) == 0
    assert "usage: talkie COMMAND" in capsys.readouterr().out
    assert talkie(["restyle"]) == 2
    assert "unknown command 'restyle'; commands are scenes" in capsys.readouterr().err


def test_talkie_sounds_is_the_sound_bank_builder(capsys):
    assert talkie(["sounds", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: talkie sounds") and "--packages" in out
    assert talkie(["sounds", "--packages", "not-a-package"]) == 2
    assert "invalid choice: 'not-a-package'" in capsys.readouterr().err


def test_talkie_scenes_help_and_bad_flags(capsys, tmp_path):
    assert talkie(["scenes", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: talkie scenes") and "--min_scene_s" in out and "--run_id" in out
    assert talkie(["scenes", "--output", str(tmp_path)]) == 2
    assert "talkie scenes: --input is required" in capsys.readouterr().err
    assert talkie(["scenes", "--input", "x.mp4", "--output", str(tmp_path), "--min_scene_s", "-1"]) == 2
    assert "talkie scenes: --min_scene_s -1.0 must be a positive number of seconds" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("extra", [[], ["--min_scene_s", "0.25"]])
def test_talkie_scenes_runs_the_job(tmp_path, capsys, extra):
    film = encode(tmp_path / "cut.mp4", textured_shots([10, 10], seed=5))
    out = tmp_path / "out"
    assert talkie(["scenes", "--input", str(film), "--output", str(out), "--runner=FnApiRunner", *extra]) == 0
    assert "1 films" in capsys.readouterr().out
    starts = read_table(str(out), "scenes")["start_frame"].to_pylist()
    # 10 frames at 24 fps is 0.42 s: shots that short stand alone only when the minimum allows it.
    assert starts == ([0, 10] if extra else [0])
