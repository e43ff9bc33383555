"""Two operational gaps of issue 23 against the moto S3 server: Beam's --s3_* flags reach Talkie's
own s3fs I/O, and an --output URI that carries a token is never printed or logged in the clear.

The moto fixture points the AWS environment at the server; the flag test takes that environment
away (and s3fs's cached instances with it), so the flags are the only way to the bucket.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from model.synth import SynthConfig, write_collection
from tests.conftest import IN_PROCESS
from tests.storage.conftest import _S3_ENVIRONMENT
from tests.transforms.generation import save_small_checkpoint
from transforms.tables import read_table

SECRET = "s3cr3t-T0KEN-value"


@pytest.fixture(scope="module")
def s3_film(s3_bucket, tmp_path_factory) -> dict:
    """One 2 s foley-world film (two 1 s shots, 64x48), its manifest and the small checkpoint, on S3."""
    local = tmp_path_factory.mktemp("gaps_s3")
    config = SynthConfig(
        min_shots=2,
        max_shots=2,
        shot_seconds=(1.0, 1.0),
        width=64,
        height=48,
        classes=("impact",),
        fade_prob=0.0,
    )
    (row,) = write_collection(local, films=1, seed=29, workers=1, config=config)
    prefix = f"{s3_bucket}/gaps-input"
    storage.write_bytes(f"{prefix}/films/{row['video_input']}", (local / row["video_input"]).read_bytes())
    manifest = f"{prefix}/films.jsonl"
    storage.write_bytes(
        manifest, (json.dumps({**row, "video_input": f"films/{row['video_input']}"}) + "\n").encode()
    )
    checkpoint = f"{prefix}/small.safetensors"
    storage.write_bytes(checkpoint, Path(save_small_checkpoint(local / "small.safetensors")).read_bytes())
    return {"film_id": row["film_id"], "manifest": manifest, "checkpoint": checkpoint}


@pytest.fixture
def no_aws_environment(monkeypatch):
    """No AWS_* variable points anywhere, and no s3fs instance made from them is reused."""
    import s3fs

    for key in _S3_ENVIRONMENT:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")  # no profile of the machine's user either
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata credential lookup
    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()
    storage.configure_s3(None)


def _flags(endpoint: str) -> list[str]:
    return [
        f"--s3_endpoint_url={endpoint}",
        "--s3_access_key_id=talkie-test",
        "--s3_secret_access_key=talkie-test",
        "--s3_region_name=us-east-1",
    ]


def test_the_launcher_reads_with_the_flags_before_its_pipeline_exists(
    s3_film, s3_server, no_aws_environment, monkeypatch
):
    """The restore job reads its checkpoint (and lists the output) before it builds the pipeline:
    the flags are in force in the launcher from the start."""
    from apache_beam.io.filesystems import FileSystems

    from pipelines.options import use_s3_flags

    monkeypatch.setattr(FileSystems, "_pipeline_options", None)  # no pipeline made yet
    use_s3_flags(PipelineOptions(_flags(s3_server)))
    assert storage.read_bytes(s3_film["manifest"]).startswith(b"{")


def test_a_worker_follows_the_flags_of_the_pipeline_it_runs(
    s3_film, s3_server, no_aws_environment, monkeypatch
):
    """A worker process never runs the launcher: it takes the flags from the pipeline options
    Beam sets in it (FileSystems.set_options, as an SDK harness does at start)."""
    from apache_beam.io.filesystems import FileSystems

    storage.configure_s3(None)
    monkeypatch.setattr(FileSystems, "_pipeline_options", PipelineOptions(_flags(s3_server)))
    assert storage.exists(s3_film["manifest"])


def test_s3_flags_reach_talkies_own_reads_and_writes(s3_film, s3_bucket, s3_server, no_aws_environment):
    """The shot-list job with only --s3_* flags: the manifest and film (read by s3fs), the shot
    lists and runs row (written by s3fs) and the scenes table (Beam's Parquet sink) all reach S3."""
    from pipelines.scenes import run

    flags = _flags(s3_server)
    output = f"{s3_bucket}/flags-out"
    with contextlib.redirect_stdout(io.StringIO()):
        summary = run(
            ["--input", s3_film["manifest"], "--output", output, *flags],
            test_pipeline=TestPipeline(options=PipelineOptions([*IN_PROCESS, *flags])),
        )
    assert summary.failures_by_stage == {}, read_table(output, "failures", run_id=summary.run_id).to_pylist()
    assert (summary.films, summary.scenes) == (1, 2)
    assert storage.exists(f"{output}/shotlists/{s3_film['film_id']}.edl")
    runs = read_table(output, "runs").to_pylist()
    assert [r["job"] for r in runs] == ["scenes"]
    recorded = json.loads(runs[0]["options"])
    assert recorded["s3_endpoint_url"] == s3_server
    assert not [k for k in recorded if "secret" in k or "access_key" in k]  # credentials are not recorded


def test_s3_flags_become_s3fs_arguments():
    assert storage.s3fs_options(
        access_key_id="AKIA",
        secret_access_key="shh",
        session_token="tok",
        endpoint_url="http://127.0.0.1:9000",
        region_name="eu-west-3",
        verify="false",
        disable_ssl=True,
    ) == {
        "key": "AKIA",
        "secret": "shh",
        "token": "tok",
        "endpoint_url": "http://127.0.0.1:9000",
        "use_ssl": False,
        "client_kwargs": {"region_name": "eu-west-3", "verify": False},
    }
    assert storage.s3fs_options() == {}  # nothing given: the AWS environment decides


def test_an_output_uri_with_a_token_is_redacted_in_everything_a_restore_run_prints_and_logs(
    s3_film, s3_bucket, caplog, capsys
):
    """The restore job end to end into s3://BUCKET/out?token=SECRET (a valid S3 prefix: the query
    is part of the key): stdout, stderr and every log record at INFO and above hide the token."""
    from pipelines.restore import run

    output = f"{s3_bucket}/redacted/out?token={SECRET}"
    caplog.set_level(logging.INFO)
    summary = run(
        [
            "--input",
            s3_film["manifest"],
            "--output",
            output,
            "--checkpoint",
            s3_film["checkpoint"],
            "--steps",
            "2",
            "--batch_size",
            "4",
        ],
        test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
    )
    printed = capsys.readouterr()
    assert summary.films_done == 1 and summary.failures == 0
    assert storage.exists(summary.film_outputs[0][2])  # the MKV really is under the token-bearing prefix
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for name, text in (("stdout", printed.out), ("stderr", printed.err), ("logging", logged)):
        assert SECRET not in text, f"{name} shows the token: {text[text.index(SECRET) - 200 :][:400]}"
    assert "token=***" in printed.out  # the summary still names where the outputs are
    runs = read_table(output, "runs").to_pylist()
    assert SECRET not in runs[0]["options"]


def test_a_worker_lists_and_reads_a_frame_sequence_with_the_flags(
    s3_bucket, s3_server, no_aws_environment, tmp_path, monkeypatch
):
    """On a worker, a scan's listing (the first S3 call its shot-list pass makes: the film_id
    hashes the frames' names and sizes) follows the pipeline's --s3_* flags, as its reads do."""
    from apache_beam.io.filesystems import FileSystems

    from media.sequence import decode_range, list_sequence
    from pipelines.options import use_s3_flags
    from tests.films import textured_shots
    from tests.sequences import write_sequence

    pattern = write_sequence(tmp_path / "reel", textured_shots([6], size=(16, 24), seed=5), "png")
    use_s3_flags(PipelineOptions(_flags(s3_server)))  # the upload, as a launcher would
    for path in sorted((tmp_path / "reel").iterdir()):
        storage.write_bytes(f"{s3_bucket}/reel/{path.name}", path.read_bytes())
    storage.configure_s3(None)  # a fresh worker: nothing in force until the pipeline's options
    monkeypatch.setattr(FileSystems, "_pipeline_options", PipelineOptions(_flags(s3_server)))
    uri = f"{s3_bucket}/reel/{Path(pattern).name}#fps=24"
    assert [f.number for f in list_sequence(uri).frames] == [1, 2, 3, 4, 5, 6]
    assert decode_range(uri, 0, 6, fps=24, width=24, height=16, gray=True).shape == (6, 16, 24)
