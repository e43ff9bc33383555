"""media.storage, transforms.files and transforms.tables on gs://, against the local GCS emulator."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from tests.conftest import IN_PROCESS
from transforms.files import match_files
from transforms.tables import WriteTable, new_run_id, read_table, write_table_file


def test_write_bytes_publishes_an_object_that_reads_back(gcs_prefix, gcs_fs):
    uri = storage.join(gcs_prefix, "audio", "film-1", "unit.flac")
    assert not storage.exists(uri)
    payload = bytes(range(256)) * 4096  # 1 MiB
    storage.write_bytes(uri, payload)
    assert storage.exists(uri)
    assert storage.read_bytes(uri) == payload
    with storage.open_input(uri) as f:
        f.seek(1000)
        assert f.read(10) == payload[1000:1010]
    assert gcs_fs.cat_file(uri) == payload  # a second client sees the same object


def test_write_bytes_replaces_an_object_whole(gcs_prefix):
    uri = storage.join(gcs_prefix, "ledger", "film-1", "unit.json")
    storage.write_bytes(uri, b"first version, longer than the second")
    storage.write_bytes(uri, b"second")
    assert storage.read_bytes(uri) == b"second"


def test_a_write_that_fails_while_building_leaves_no_object(gcs_prefix, gcs_fs):
    uri = storage.join(gcs_prefix, "films", "film-1", "cut.flac")

    def build() -> bytes:
        raise RuntimeError("encoder crashed half way")

    with pytest.raises(RuntimeError, match="half way"):
        storage.write_bytes(uri, build())
    assert not storage.exists(uri)
    assert gcs_fs.find(gcs_prefix) == []  # no temporary or partial object anywhere either


def test_fsspec_open_would_publish_a_partial_object(gcs_prefix, gcs_fs):
    """Why media.storage never streams into ``fsspec.open(...)``: the hazard docs/design.md names is
    real here."""
    import fsspec

    uri = storage.join(gcs_prefix, "partial.bin")
    with pytest.raises(RuntimeError):
        with fsspec.open(uri, "wb") as f:
            f.write(b"half of it")
            raise RuntimeError("crash mid-write")
    assert gcs_fs.cat_file(uri) == b"half of it"


def test_match_files_lists_objects_with_their_scheme(gcs_prefix):
    for name in ("a.mp4", "b.mp4", "notes.txt", "sub/c.mp4"):
        storage.write_bytes(storage.join(gcs_prefix, name), b"x")
    assert match_files(storage.join(gcs_prefix, "*.mp4")) == [
        storage.join(gcs_prefix, "a.mp4"),
        storage.join(gcs_prefix, "b.mp4"),
    ]
    assert match_files(storage.join(gcs_prefix, "**", "*.mp4"))[-1] == storage.join(
        gcs_prefix, "sub", "c.mp4"
    )


FAILURE = {
    "uri": "gs://x/film.mp4",
    "film_id": "film",
    "stage": "probe",
    "error_type": "MediaError",
    "error": "bad",
}


def test_a_table_file_written_from_the_launcher_reads_back(gcs_prefix):
    run_id = new_run_id()
    uri = write_table_file(gcs_prefix, "failures", run_id, [FAILURE])
    assert uri == f"{gcs_prefix}/meta/failures/{run_id}-00000-of-00001.parquet" and storage.exists(uri)
    assert read_table(gcs_prefix, "failures").to_pylist() == [{"run_id": run_id, **FAILURE}]


def test_write_table_through_beams_gcs_file_system_leaves_only_final_shards(gcs_prefix, gcs_fs):
    """WriteTable is Beam's Parquet sink: apache_beam.io.gcp.gcsfilesystem (google-cloud-storage,
    which honours STORAGE_EMULATOR_HOST) writes temporaries, renames them, and removes its temp folder."""
    run_id = new_run_id()
    rows = [{**FAILURE, "uri": f"gs://x/film{i}.mp4"} for i in range(3)]
    with TestPipeline(options=PipelineOptions(IN_PROCESS)) as pipeline:
        _ = pipeline | beam.Create(rows) | WriteTable(gcs_prefix, "failures", run_id)
    gcs_fs.invalidate_cache()
    objects = gcs_fs.find(gcs_prefix)
    assert objects and all(
        o.rsplit("/", 1)[-1].startswith(f"{run_id}-") and o.endswith(".parquet") for o in objects
    ), objects
    assert sorted(r["uri"] for r in read_table(gcs_prefix, "failures").to_pylist()) == sorted(
        r["uri"] for r in rows
    )


def test_tables_see_shards_that_another_writer_published_after_a_listing(gcs_prefix, gcs_emulator):
    """gcsfs caches listings per process and never expires them. A launcher that listed the output
    (the ``--run_id`` check globs meta/*/) and then let Beam's sinks write must still read the new shards."""
    from google.cloud import storage as gcs

    first, second = new_run_id(), new_run_id()
    write_table_file(gcs_prefix, "failures", first, [FAILURE])
    assert match_files(f"{gcs_prefix}/meta/*/{second}-*.parquet") == []  # caches meta/ and meta/failures/
    data = storage.read_bytes(f"{gcs_prefix}/meta/failures/{first}-00000-of-00001.parquet")
    bucket, folder = gcs_prefix[len("gs://") :].split("/", 1)
    client = gcs.Client.create_anonymous_client()  # another writer, as Beam's gcsio is
    client.bucket(bucket).blob(f"{folder}/meta/failures/{second}-00000-of-00001.parquet").upload_from_string(
        data
    )
    # A run's summary reads its own shards by a run-id prefix (a listing that does not refresh the cache).
    assert read_table(gcs_prefix, "failures", run_id=second).num_rows == 1
    assert len(match_files(f"{gcs_prefix}/meta/failures/*.parquet")) == 2


def test_exists_sees_an_object_published_after_its_folder_was_listed(gcs_prefix, gcs_emulator):
    """gcsfs answers exists() from a cached listing of the folder when it has one, and never
    expires it: a ledger object or film another worker published since must still be found."""
    import fsspec
    from google.cloud import storage as gcs

    ledger = storage.join(gcs_prefix, "ledger", "film-1")
    storage.write_bytes(f"{ledger}/a.json", b"{}")
    fs, _ = fsspec.core.url_to_fs(ledger)
    assert len(fs.ls(ledger)) == 1  # the listing is now cached in the instance media.storage uses
    bucket, folder = ledger[len("gs://") :].split("/", 1)
    gcs.Client.create_anonymous_client().bucket(bucket).blob(f"{folder}/b.json").upload_from_string(b"{}")
    assert fs.exists(f"{ledger}/b.json") is False  # the hazard: the cached listing hides it
    assert storage.exists(f"{ledger}/b.json")
    with storage.open_input(f"{ledger}/b.json") as f:
        assert f.read() == b"{}"
