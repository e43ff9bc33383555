"""media.storage, transforms.files and transforms.tables on s3://, against a local moto S3 server."""

from __future__ import annotations

import apache_beam as beam
import fsspec
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from tests.conftest import IN_PROCESS
from transforms.files import match_files
from transforms.tables import WriteTable, new_run_id, read_table, write_table_file

FAILURE = {
    "uri": "s3://x/film.mp4",
    "film_id": "film",
    "stage": "probe",
    "error_type": "MediaError",
    "error": "bad",
}


def test_write_bytes_publishes_an_object_that_reads_back(s3_prefix, s3_fs):
    uri = storage.join(s3_prefix, "audio", "film-1", "unit.flac")
    assert not storage.exists(uri)
    payload = bytes(range(256)) * 4096  # 1 MiB
    storage.write_bytes(uri, payload)
    assert storage.exists(uri)
    assert storage.read_bytes(uri) == payload
    with storage.open_input(uri) as f:
        f.seek(1000)
        assert f.read(10) == payload[1000:1010]
    assert s3_fs.cat_file(uri) == payload


def test_a_write_that_fails_while_building_leaves_no_object(s3_prefix, s3_fs):
    uri = storage.join(s3_prefix, "films", "film-1", "cut.flac")

    def build() -> bytes:
        raise RuntimeError("encoder crashed half way")

    with pytest.raises(RuntimeError, match="half way"):
        storage.write_bytes(uri, build())
    assert not storage.exists(uri)
    s3_fs.invalidate_cache()
    assert s3_fs.find(s3_prefix) == []


def test_exists_sees_an_object_published_after_its_folder_was_listed(s3_prefix, s3_fs):
    """s3fs caches a folder's listing and answers exists() from it: an object that another
    process published after this one listed the folder must still be found (a resumed run's
    ledger check, a film already assembled)."""
    import s3fs

    ledger = storage.join(s3_prefix, "ledger", "film-1")
    storage.write_bytes(f"{ledger}/a.json", b"{}")
    fs, _ = fsspec.core.url_to_fs(ledger)
    assert len(fs.ls(ledger)) == 1  # the listing is now cached in the instance media.storage uses
    other_writer = s3fs.S3FileSystem(skip_instance_cache=True)
    other_writer.pipe(f"{ledger}/b.json", b"{}")
    assert fs.exists(f"{ledger}/b.json") is False  # the hazard: the cached listing hides it
    assert storage.exists(f"{ledger}/b.json")
    with storage.open_input(f"{ledger}/b.json") as f:
        assert f.read() == b"{}"


def test_match_files_lists_objects_with_their_scheme(s3_prefix):
    for name in ("a.mp4", "b.mp4", "notes.txt", "sub/c.mp4"):
        storage.write_bytes(storage.join(s3_prefix, name), b"x")
    assert match_files(storage.join(s3_prefix, "*.mp4")) == [
        storage.join(s3_prefix, "a.mp4"),
        storage.join(s3_prefix, "b.mp4"),
    ]


def test_write_table_through_beams_s3_file_system_leaves_only_final_shards(s3_prefix, s3_fs):
    """WriteTable is Beam's Parquet sink on apache_beam.io.aws.s3filesystem (boto3, configured
    here by the AWS environment the fixture set: AWS_ENDPOINT_URL and keys)."""
    run_id = new_run_id()
    rows = [{**FAILURE, "uri": f"s3://x/film{i}.mp4"} for i in range(3)]
    with TestPipeline(options=PipelineOptions(IN_PROCESS)) as pipeline:
        _ = pipeline | beam.Create(rows) | WriteTable(s3_prefix, "failures", run_id)
    s3_fs.invalidate_cache()
    objects = s3_fs.find(s3_prefix)
    assert objects and all(
        o.rsplit("/", 1)[-1].startswith(f"{run_id}-") and o.endswith(".parquet") for o in objects
    ), objects
    assert sorted(r["uri"] for r in read_table(s3_prefix, "failures").to_pylist()) == sorted(
        r["uri"] for r in rows
    )
    write_table_file(s3_prefix, "failures", new_run_id(), [FAILURE])
    assert read_table(s3_prefix, "failures").num_rows == 4
