"""The Parquet tables of docs/design.md's Contracts: schemas, run ids, writing and reading.

Layout: ``OUTPUT/meta/<table>/<run_id>-<shard>.parquet`` (``transforms.layout``). A run writes only
files named after its own run_id, so it never rewrites another run's. Readers read a table as a
dataset over all runs; for the same key the newest run_id wins, and run ids sort by time.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from media import storage
from transforms import layout
from transforms.files import match_files

_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _required(name: str, kind: pa.DataType) -> pa.Field:
    return pa.field(name, kind, nullable=False)


def _optional(name: str, kind: pa.DataType) -> pa.Field:
    return pa.field(name, kind, nullable=True)


RUN_ID = _required("run_id", pa.string())

SCHEMAS: dict[str, pa.Schema] = {
    "runs": pa.schema(
        [
            RUN_ID,
            _required("job", pa.string()),  # "scenes", "restore", ...
            _required("started_at", _TIMESTAMP),
            _required("finished_at", _TIMESTAMP),
            _required("code_version", pa.string()),
            _required("options", pa.string()),  # JSON object, credential-like options removed
            _required("counts", pa.map_(pa.string(), pa.int64())),
        ]
    ),
    "films": pa.schema(
        [
            RUN_ID,
            _required("film_id", pa.string()),
            _required("uri", pa.string()),
            _required("content_sha256", pa.string()),
            _optional("duration_s", pa.float64()),
            _optional("nominal_fps", pa.float64()),
            _optional("true_fps", pa.float64()),
            _optional("frames", pa.int64()),
            # A frame sequence's frame numbers that have no file (each gap held by the frame before
            # it; [] when none are missing); null for a video file and in rows written before it.
            _optional("missing_frames", pa.list_(pa.int64())),
            _optional("scenes", pa.int64()),
            _optional("cut_key", pa.string()),
            _optional("flac_uri", pa.string()),
            _optional("video_uri", pa.string()),
            # A scored cut's stems (null for a cut without music, and in rows written before them).
            _optional("effects_flac_uri", pa.string()),
            _optional("score_flac_uri", pa.string()),
            _optional("loudness_lufs", pa.float64()),
            _optional("checkpoint_sha256", pa.string()),
            _required("status", pa.string()),
            _optional("extra", pa.string()),  # JSON object of the manifest row's other columns
        ]
    ),
    "scenes": pa.schema(
        [
            RUN_ID,
            _required("film_id", pa.string()),
            _required("uri", pa.string()),
            _required("scene_index", pa.int64()),
            _required("start_frame", pa.int64()),
            _required("end_frame", pa.int64()),  # exclusive
            _required("start_pts", pa.int64()),
            _required("end_pts", pa.int64()),  # exclusive
            _required("time_base", pa.string()),  # e.g. "1/90000"
            _required("start_s", pa.float64()),
            _required("end_s", pa.float64()),
            _required("cut_confidence", pa.float64()),
            # Written by the restore job; the shot-list job leaves them null.
            _optional("positive_prompt", pa.string()),
            _optional("negative_prompt", pa.string()),
            _optional("best_take", pa.int64()),
            # The unit key of the take a curator chose for the scene (talkie choose); restore
            # reruns keep it unless --rechoose. Null: the take is picked by sync score.
            _optional("chosen_unit_key", pa.string()),
            # The restore job's cue sheet (transforms/score.py): null where the film got no cut.
            _optional("score_sounds", pa.bool_()),
            _optional("score_mood", pa.string()),
            _optional("score_tempo_bpm", pa.int64()),
            _optional("score_key", pa.string()),  # e.g. "F major"
            _optional("score_instrument", pa.string()),
            _optional("score_hits", pa.bool_()),
        ]
    ),
    "takes": pa.schema(
        [
            RUN_ID,
            _required("film_id", pa.string()),
            _required("scene_index", pa.int64()),
            _required("take", pa.int64()),
            _required("unit_key", pa.string()),
            _required("seed", pa.int64()),
            _required("flac_uri", pa.string()),
            _required("flac_sha256", pa.string()),
            _optional("sync_score", pa.float64()),
            _required("steps", pa.int64()),
            _required("text_guidance", pa.float64()),
            _required("video_guidance", pa.float64()),
            _optional("negative_guidance", pa.float64()),  # null in rows written before it existed
        ]
    ),
    "failures": pa.schema(
        [
            RUN_ID,
            _required("uri", pa.string()),
            _optional("film_id", pa.string()),
            _required("stage", pa.string()),
            _required("error_type", pa.string()),
            _required("error", pa.string()),
        ]
    ),
}

# For each table, the key under which the newest run wins. A film's scenes are one shot list:
# the newest run that cut the film supplies all of its scenes, so a film re-cut into fewer
# scenes leaves no stale ones behind.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "runs": ("run_id",),
    "films": ("film_id",),
    "scenes": ("film_id",),
    "takes": ("film_id", "scene_index", "take"),
    "failures": ("uri", "stage"),
}
TABLE_ORDER: dict[str, tuple[str, ...]] = {
    "runs": ("run_id",),
    "films": ("film_id",),
    "scenes": ("film_id", "scene_index"),
    "takes": ("film_id", "scene_index", "take"),
    "failures": ("uri", "stage", "run_id"),
}

_RUN_ID_PATTERN = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")


def new_run_id(now: dt.datetime | None = None) -> str:
    """A run id that sorts by start time: UTC ``YYYYMMDDTHHMMSSZ`` plus 8 random hex digits."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_PATTERN.fullmatch(run_id):
        raise ValueError(
            f"run_id {run_id!r} is not accepted; run ids look like 20261126T081710Z-1a2b3c4d "
            "(UTC time, then 8 lowercase hex digits) so that they sort by time"
        )
    return run_id


def schema_of(table: str) -> pa.Schema:
    if table not in SCHEMAS:
        raise ValueError(f"table {table!r} is not one of {sorted(SCHEMAS)}")
    return SCHEMAS[table]


def stamp_row(row: Mapping[str, Any], table: str, run_id: str) -> dict[str, Any]:
    """``row`` with this run's id and every column of ``table``; raises on unknown or missing columns."""
    schema = schema_of(table)
    unknown = sorted(set(row) - (set(schema.names) - {"run_id"}))
    if unknown:
        raise ValueError(
            f"{table} row has columns {unknown}; it accepts {schema.names[1:]} "
            "(run_id is stamped by the writer)"
        )
    missing = [f.name for f in schema if f.name != "run_id" and not f.nullable and row.get(f.name) is None]
    if missing:
        raise ValueError(f"{table} row lacks required columns {missing}: {dict(row)}")
    return {"run_id": run_id, **{name: row.get(name) for name in schema.names if name != "run_id"}}


class WriteTable(beam.PTransform[Any, Any]):
    """Rows (dicts of a table's columns, without run_id) ->
    ``OUTPUT/meta/<table>/<run_id>-SSSSS-of-NNNNN.parquet`` (``transforms.layout.table_prefix``).

    Beam's Parquet sink writes each shard under a temporary name and renames it when the write
    is finalised, so a final name never holds a partial file. An empty collection still yields
    one (empty) shard, so every run leaves a file per table it writes.
    """

    def __init__(self, output: str, table: str, run_id: str) -> None:
        super().__init__()
        self._schema = schema_of(table)
        self._table = table
        self._run_id = validate_run_id(run_id)
        self._prefix = layout.table_prefix(output, table, run_id)

    def expand(self, rows: beam.PCollection[Any]) -> beam.PCollection[Any]:  # the written files' names
        written: beam.PCollection[Any] = (
            rows
            | "StampRunId" >> beam.Map(stamp_row, self._table, self._run_id)
            | "WriteParquet"
            >> beam.io.WriteToParquet(
                file_path_prefix=self._prefix,
                schema=self._schema,
                file_name_suffix=".parquet",
                codec="snappy",
            )
        )
        return written


def write_table_file(output: str, table: str, run_id: str, rows: Iterable[Mapping[str, Any]]) -> str:
    """Writes ``rows`` as this run's only shard of ``table``, outside a pipeline, atomically.

    For the few rows a job writes from its launcher (the ``runs`` row); returns the file's URI.
    """
    validate_run_id(run_id)
    schema = schema_of(table)
    stamped = [stamp_row(row, table, run_id) for row in rows]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(stamped, schema=schema), buffer, compression="snappy")
    uri = layout.table_file_uri(output, table, run_id)
    storage.write_bytes(uri, buffer.getvalue())
    return uri


def read_table(output: str, table: str, *, run_id: str | None = None) -> pa.Table:
    """A table over all runs, keeping for each key (``TABLE_KEYS``) only the newest run's rows.

    With ``run_id``, only that run's rows. Rows come sorted by ``TABLE_ORDER``. Files written
    under an older schema read with the columns they lack as nulls.
    """
    schema = schema_of(table)
    files = match_files(layout.table_glob(output, table, validate_run_id(run_id) if run_id else None))
    if not files:
        return schema.empty_table()
    if "://" in files[0] and not files[0].startswith("file://"):
        fs, _ = storage.filesystem(files[0])
        paths = [storage.filesystem(f)[1] for f in files]
        data = pads.dataset(paths, schema=schema, filesystem=fs).to_table()
    else:
        data = pads.dataset([storage.local_path(f) for f in files], schema=schema).to_table()
    if run_id is None:
        data = newest_runs_only(data, TABLE_KEYS[table])
    return data.sort_by([(name, "ascending") for name in TABLE_ORDER[table]])


def newest_runs_only(data: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """The rows of ``data`` whose run_id is the newest among rows with the same ``keys``."""
    if data.num_rows == 0 or "run_id" in keys:
        return data
    # Join on keys and run_id only (with a row number), so any column type can ride along.
    slim = pa.table(
        {
            **{k: data[k] for k in keys},
            "run_id": data["run_id"],
            "__row": pa.array(range(data.num_rows), pa.int64()),
        }
    )
    newest = slim.group_by(list(keys)).aggregate([("run_id", "max")])
    kept = slim.join(newest, keys=[*keys, "run_id"], right_keys=[*keys, "run_id_max"], join_type="inner")
    rows = kept["__row"]
    return data.take(rows.take(pc.sort_indices(rows)))
