"""Manifests: which films a job processes, and with what prompts (docs/design.md, Contracts).

A manifest is JSON Lines (``.jsonl``), CSV, Parquet, a single job JSON (``.json``: one object or a
list), or a glob of video files. A glob whose pattern ends in a manifest extension reads every
matching manifest. A row whose ``video_input`` is a glob of frame files (``reel1/frame_*.dpx``)
is one film, a frame sequence (``media.sequence``): its row must give its rate, ``fps``, and its
``video_input`` becomes the sequence URI ``<pattern>#fps=<rate>`` that every stage reads.

Each row becomes a ``FilmJob``; a row that fails validation becomes a ``Failure`` and the other
rows go on. A manifest that cannot be read at all (missing, not UTF-8, no ``video_input`` column,
a glob that matches nothing) raises: that is a mistake in the job's arguments, not bad data.

The pure functions here are what ``ReadManifest`` runs on a worker at pipeline run time.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
import os
import posixpath
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import apache_beam as beam
import pyarrow.parquet as pq

from media import storage
from media.sequence import (
    FRAME_CODECS,
    FRAME_FORMATS,
    SequenceError,
    check_pattern,
    is_sequence_pattern,
    parse_fps,
    sequence_slug_name,
    sequence_uri,
    split_sequence_uri,
)
from transforms.checks import is_number, is_whole
from transforms.failures import FAILURES, Failure, FailureGuard, failure_from, redacted_repr
from transforms.files import absolute_uri, match_files
from transforms.stages import STAGE_READ_MANIFEST

MANIFEST_EXTENSIONS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet", ".json": "json"}
ACCEPTED_INPUTS = (
    "a manifest (.jsonl, .csv, .parquet, .json), a glob of manifests with one of those "
    "extensions, or a video file or glob of video files"
)
ROW_FIELDS = ("video_input", "film_id", "positive_prompt", "negative_prompt", "takes", "seed", "scenes")
OVERRIDE_FIELDS = ("index", "start_s", "end_s", "positive_prompt", "negative_prompt")

MAX_PROMPT_CHARS = 1000
MAX_FILM_ID_CHARS = 128
MAX_SLUG_CHARS = 48
MAX_TAKES = 100
MAX_SEED = 2**63 - 1  # the takes table stores seeds as int64
_SAFE_FILM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_GLOB_CHARS = re.compile(r"[*?\[]")
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*@")
# Unicode's bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they
# reorder how the text around them is shown, so a prompt could display as something it is not.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class ManifestError(ValueError):
    """A manifest, or one of its rows, is not valid; the message names the value and what is accepted."""


@dataclass(frozen=True)
class SceneOverride:
    """Prompts for one scene, chosen by ``index`` or by a time range ``[start_s, end_s)``."""

    index: int | None
    start_s: float | None
    end_s: float | None
    positive_prompt: str | None
    negative_prompt: str | None


@dataclass(frozen=True)
class FilmJob:
    """One manifest row, resolved and validated.

    ``None`` means "not given", so that command-line defaults < row < scene override layer cleanly.
    """

    video_input: str  # absolute local path or URI
    film_id: str | None  # validated safe path segment; None: derived from the file's bytes later
    positive_prompt: str | None
    negative_prompt: str | None
    takes: int | None
    seed: int | None
    scenes: tuple[SceneOverride, ...]
    extra: str  # JSON object of the row's other columns, keys sorted; "{}" when there are none

    __repr__ = redacted_repr  # video_input may carry user-info or a signed URL's token


@dataclass(frozen=True)
class ManifestRow:
    """One row as read from a manifest, before validation.

    ``source`` says where it came from: ``<manifest>#line=N`` (JSON Lines, counting every line
    from 1), ``<manifest>#row=N`` (CSV, Parquet, JSON; data rows from 1), or the video's own path
    for a glob of videos. ``problem`` is set when the row could not even be decoded.
    """

    source: str
    base: str  # the folder that relative video_input paths are resolved against
    fields: Mapping[str, Any] | None
    problem: str | None = None


# ----------------------------------------------------------------------------------- reading


def manifest_format(spec: str) -> str:
    """``"jsonl"``, ``"csv"``, ``"parquet"``, ``"json"`` or ``"videos"``, from the extension of ``spec``."""
    lowered = spec.lower()
    for extension, name in MANIFEST_EXTENSIONS.items():
        if lowered.endswith(extension):
            return name
    return "videos"


def is_glob(spec: str) -> bool:
    return bool(_GLOB_CHARS.search(spec))


def absolute_input(spec: str) -> str:
    """``spec`` with a relative local path made absolute (no I/O: safe at construction time)."""
    if not spec:
        raise ManifestError(f"--input is empty; it accepts {ACCEPTED_INPUTS}")
    return absolute_uri(spec)


def read_manifest_rows(spec: str) -> Iterator[ManifestRow]:
    """Every row named by ``spec`` (see the module docstring), in file order."""
    spec = absolute_input(spec)
    kind = manifest_format(spec)
    if is_glob(spec):
        matches = match_files(spec)
        if not matches:
            raise FileNotFoundError(f"no file matches --input {spec!r}; it accepts {ACCEPTED_INPUTS}")
    else:
        matches = [spec]
    if kind == "videos" and is_glob(spec) and _frame_files(matches):
        raise ManifestError(
            f"--input {spec!r} matches frame files ({FRAME_FORMATS}); a frame sequence is one film "
            'and needs its rate: give it as a manifest row, e.g. {"video_input": "reel1/frame_*.dpx", '
            '"fps": 18}'
        )
    for uri in matches:
        if kind == "videos":
            yield ManifestRow(source=uri, base=_parent(uri), fields={"video_input": uri})
        else:
            yield from _read_manifest_file(uri, kind)


def _read_manifest_file(uri: str, kind: str) -> Iterator[ManifestRow]:
    data = storage.read_bytes(uri)
    base = _parent(uri)
    if kind == "parquet":
        yield from _parquet_rows(uri, base, data)
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest {uri!r} is not UTF-8 text ({exc}); manifests are UTF-8") from exc
    if kind == "jsonl":
        yield from _jsonl_rows(uri, base, text)
    elif kind == "json":
        yield from _json_rows(uri, base, text)
    else:
        yield from _csv_rows(uri, base, text)


def _jsonl_rows(uri: str, base: str, text: str) -> Iterator[ManifestRow]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        source = f"{uri}#line={number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield ManifestRow(source, base, None, f"line {number} is not valid JSON: {exc}")
            continue
        yield _object_row(source, base, value)


def _json_rows(uri: str, base: str, text: str) -> Iterator[ManifestRow]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest {uri!r} is not valid JSON: {exc}") from exc
    items = value if isinstance(value, list) else [value]
    for number, item in enumerate(items, start=1):
        yield _object_row(f"{uri}#row={number}", base, item)


def _object_row(source: str, base: str, value: Any) -> ManifestRow:
    if not isinstance(value, dict):
        return ManifestRow(source, base, None, f"a row must be a JSON object, got {type(value).__name__}")
    return ManifestRow(source, base, value)


def _csv_rows(uri: str, base: str, text: str) -> Iterator[ManifestRow]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    _require_video_input_column(uri, header)
    reader.fieldnames = header
    for number, cells in enumerate(reader, start=1):
        source = f"{uri}#row={number}"
        if None in cells:  # DictReader files surplus cells under the key None
            problem = f"row {number} has {len(header) + len(cells[None])} cells; the header has {len(header)}"
            yield ManifestRow(source, base, None, problem)
            continue
        # CSV has no null: an empty cell means "not given".
        yield ManifestRow(source, base, {k: (None if v in ("", None) else v) for k, v in cells.items()})


def _parquet_rows(uri: str, base: str, data: bytes) -> Iterator[ManifestRow]:
    table = pq.read_table(io.BytesIO(data))
    _require_video_input_column(uri, table.column_names)
    for number, row in enumerate(table.to_pylist(), start=1):
        yield ManifestRow(f"{uri}#row={number}", base, row)


def _require_video_input_column(uri: str, columns: list[str]) -> None:
    if "video_input" not in columns:
        raise ManifestError(f"manifest {uri!r} has columns {columns}; a 'video_input' column is required")


def _frame_files(uris: list[str]) -> bool:
    """Whether every one of ``uris`` is a frame file (by its extension): the frames of a sequence."""
    return all(posixpath.splitext(file_name(u).lower())[1] in FRAME_CODECS for u in uris)


def _parent(uri: str) -> str:
    if "://" in uri:
        return uri.rsplit("/", 1)[0] if "/" in uri.split("://", 1)[1] else uri
    return os.path.dirname(os.path.abspath(uri))


# -------------------------------------------------------------------------------- validation


def parse_row(row: ManifestRow) -> FilmJob:
    """The ``FilmJob`` for one row; raises ``ManifestError`` naming the first bad value."""
    if row.problem is not None:
        raise ManifestError(row.problem)
    fields = dict(row.fields or {})
    for column in fields:
        if not isinstance(column, str):
            raise ManifestError(f"column name {column!r} is not text; column names are text")
        _require_unicode(column, "column name")
    video_input = resolve_video_input(fields.get("video_input"), row.base)
    own_fields: tuple[str, ...] = ROW_FIELDS
    if is_sequence_pattern(split_sequence_uri(video_input)[0]):
        video_input = sequence_input(video_input, fields.get("fps"))
        own_fields = (*ROW_FIELDS, "fps")  # a sequence's rate is in its URI, not in extra
    return FilmJob(
        video_input=video_input,
        film_id=None if fields.get("film_id") is None else validate_film_id(fields["film_id"]),
        positive_prompt=clean_prompt(fields.get("positive_prompt"), "positive_prompt"),
        negative_prompt=clean_prompt(fields.get("negative_prompt"), "negative_prompt"),
        takes=_whole_number(fields.get("takes"), "takes", 1, MAX_TAKES),
        seed=_whole_number(fields.get("seed"), "seed", 0, MAX_SEED),
        scenes=parse_scene_overrides(fields.get("scenes")),
        extra=_extra_json({k: v for k, v in fields.items() if k not in own_fields}),
    )


def sequence_input(video_input: str, fps: Any) -> str:
    """The sequence URI of a row whose resolved ``video_input`` globs frame files, at the row's
    ``fps`` (or the rate its ``#fps=`` gives); raises ``ManifestError`` without a usable rate."""
    pattern, rate_in_uri = split_sequence_uri(video_input)
    try:
        check_pattern(pattern)
    except SequenceError as exc:
        raise ManifestError(str(exc)) from exc
    if fps is None and rate_in_uri is None:
        raise ManifestError(
            f"video_input {_show(pattern)} is a frame sequence (a glob of frame files) and its row gives "
            "no fps; a sequence's row needs 'fps', the rate it was shot or scanned at, e.g. 18, 24 or "
            "24000/1001"
        )
    try:
        rate = parse_fps(fps if fps is not None else rate_in_uri)
        if fps is not None and rate_in_uri is not None and parse_fps(rate_in_uri) != rate:
            raise ValueError(f"fps {fps!r} differs from the rate in video_input ({rate_in_uri})")
    except ValueError as exc:
        raise ManifestError(f"{exc} (for the frame sequence {_show(pattern)})") from exc
    return sequence_uri(pattern, rate)


def row_uri(row: ManifestRow) -> str:
    """The film a row names, for its failure record; the row's source when it names none."""
    try:
        return resolve_video_input((row.fields or {}).get("video_input"), row.base)
    except ManifestError:
        return row.source


def resolve_video_input(value: Any, base: str) -> str:
    """An absolute path or URI for ``value``; a relative path is taken from ``base``."""
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(
            f"video_input {_show(value)} is not a path; it accepts a local path (absolute, or "
            "relative to the manifest's folder) or a URI such as gs://bucket/film.mp4"
        )
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ManifestError(f"video_input {_show(value)} contains control characters")
    if "://" in value:
        return value
    if os.path.isabs(value):
        return os.path.normpath(value)
    if "://" in base:
        scheme, rest = base.split("://", 1)
        return f"{scheme}://{posixpath.normpath(posixpath.join(rest, value))}"
    return os.path.normpath(os.path.join(base, value))


def validate_film_id(value: Any) -> str:
    """``value`` as a film_id when it is a safe path segment; raises ``ManifestError`` otherwise."""
    if not (isinstance(value, str) or is_whole(value)):
        raise ManifestError(f"film_id {_show(value)} must be text or a whole number")
    text = str(value)
    if not _SAFE_FILM_ID.fullmatch(text) or ".." in text:
        raise ManifestError(
            f"film_id {_show(text)} is not a safe path segment: it accepts 1 to "
            f"{MAX_FILM_ID_CHARS} characters from A-Z a-z 0-9 . _ -, starting with a letter or "
            "digit, without '..'"
        )
    return text


def file_name(uri: str) -> str:
    """The last path segment of ``uri``, without its query or any user-info before the host."""
    return _USERINFO.sub("", uri.split("?", 1)[0]).rstrip("/").rsplit("/", 1)[-1]


def film_slug(uri: str) -> str:
    """The file name of ``uri`` without its extension, as lowercase ``[a-z0-9-]``, at most 48 chars;
    for a frame sequence, its folder's name and its pattern's file name without wildcards
    ("gs://b/reel1/frame_*.dpx#fps=18" -> "reel1-frame")."""
    if is_sequence_pattern(split_sequence_uri(uri)[0]):
        stem = sequence_slug_name(uri)
    else:
        name = file_name(uri)
        stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:MAX_SLUG_CHARS].strip("-")
    return slug or "film"


def derive_film_id(uri: str, content_sha256: str) -> str:
    """The film_id of a film whose row gives none: file-name slug + first 12 hex of its SHA-256."""
    if not _SHA256_HEX.fullmatch(content_sha256):
        raise ValueError(f"content_sha256 {content_sha256!r} is not 64 lowercase hex digits")
    return f"{film_slug(uri)}-{content_sha256[:12]}"


def clean_prompt(value: Any, field: str) -> str | None:
    """A prompt with control characters (and bidirectional overrides) removed and whitespace runs
    collapsed, at most ``MAX_PROMPT_CHARS`` long; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ManifestError(f"{field} {_show(value)} must be text")
    _require_unicode(value, field)
    # Tabs and newlines become spaces; other control characters (NUL, ESC, ...) are dropped.
    kept = "".join(
        c for c in value if c.isspace() or (unicodedata.category(c) != "Cc" and c not in _BIDI_CONTROLS)
    )
    text = " ".join(kept.split())
    if len(text) > MAX_PROMPT_CHARS:
        raise ManifestError(f"{field} has {len(text)} characters; at most {MAX_PROMPT_CHARS} are accepted")
    return text


def parse_scene_overrides(value: Any) -> tuple[SceneOverride, ...]:
    """Scene overrides from a list (or a JSON text of a list, as CSV cells carry them)."""
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ManifestError(
                f"scenes {_show(value)} is not valid JSON ({exc}); it accepts a list"
            ) from exc
    if not isinstance(value, (list, tuple)):
        raise ManifestError(
            f'scenes {_show(value)} must be a list of objects, each {{"index": N}} or '
            '{"start_s": a, "end_s": b} with positive_prompt and/or negative_prompt'
        )
    overrides = tuple(_scene_override(item, position) for position, item in enumerate(value))
    indexes = [o.index for o in overrides if o.index is not None]
    duplicated = sorted({i for i in indexes if indexes.count(i) > 1})
    if duplicated:
        raise ManifestError(f"scenes overrides name scene index {duplicated} more than once")
    return overrides


def _scene_override(item: Any, position: int) -> SceneOverride:
    where = f"scenes[{position}]"
    if not isinstance(item, Mapping):
        raise ManifestError(f"{where} {_show(item)} must be an object")
    unknown = sorted(str(k) for k in item if k not in OVERRIDE_FIELDS)
    if unknown:
        raise ManifestError(f"{where} has unknown keys {unknown}; accepted keys are {list(OVERRIDE_FIELDS)}")
    given = {k: v for k, v in item.items() if v is not None}  # Parquet structs carry every key
    index = start_s = end_s = None
    if "index" in given:
        if "start_s" in given or "end_s" in given:
            raise ManifestError(f"{where} gives both index and start_s/end_s; give one of them")
        index = _whole_number(given["index"], f"{where}.index", 0, 10**9)
    elif "start_s" in given and "end_s" in given:
        start_s = _seconds(given["start_s"], f"{where}.start_s")
        end_s = _seconds(given["end_s"], f"{where}.end_s")
        if not start_s < end_s:
            raise ManifestError(f"{where} has start_s {start_s} not before end_s {end_s}")
    else:
        raise ManifestError(f"{where} needs either index or both start_s and end_s")
    positive = clean_prompt(given.get("positive_prompt"), f"{where}.positive_prompt")
    negative = clean_prompt(given.get("negative_prompt"), f"{where}.negative_prompt")
    if positive is None and negative is None:
        raise ManifestError(f"{where} sets neither positive_prompt nor negative_prompt")
    return SceneOverride(index, start_s, end_s, positive, negative)


def _whole_number(value: Any, field: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    number: int | None = None
    if is_whole(value):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        number = int(value)
    if number is None or not low <= number <= high:
        raise ManifestError(f"{field} {_show(value)} must be a whole number from {low} to {high}")
    return number


def _seconds(value: Any, field: str) -> float:
    number: float | None = None
    if is_number(value):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number < 0:
        raise ManifestError(f"{field} {_show(value)} must be a finite number of seconds, 0 or more")
    return number


def _extra_json(columns: Mapping[str, Any]) -> str:
    """The row's other columns as a JSON object; NaN (Parquet's missing float) becomes null."""
    return json.dumps({k: _jsonable(v, k) for k, v in columns.items()}, sort_keys=True, ensure_ascii=False)


def _jsonable(value: Any, column: str) -> Any:
    if isinstance(value, str):
        _require_unicode(value, f"column {column!r}")
        return value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {_jsonable(str(k), column): _jsonable(v, column) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, column) for v in value]
    raise ManifestError(
        f"column {column!r} holds a {type(value).__name__}, which has no JSON form; other columns "
        "accept text, numbers, booleans, dates, lists and objects"
    )


def _require_unicode(text: str, field: str) -> None:
    """Raises ManifestError for text with a lone surrogate (JSON's "\\ud800" escape): no UTF-8
    writer (Parquet, FLAC and MKV tags) could store it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError(
            f"{field} {_show(text)} is not valid Unicode text (it holds a lone surrogate)"
        ) from None


def _show(value: Any) -> str:
    """A bounded repr for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}… ({len(text)} characters)"


# ----------------------------------------------------------------------------- pure summary


def parse_manifest(spec: str) -> tuple[list[FilmJob], list[Failure]]:
    """Every valid row of ``spec`` as a ``FilmJob`` and every invalid one as a ``Failure``."""
    jobs: list[FilmJob] = []
    failures: list[Failure] = []
    for row in read_manifest_rows(spec):
        try:
            jobs.append(parse_row(row))
        except ManifestError as exc:
            failures.append(failure_from(exc, uri=row_uri(row), film_id=None, stage=STAGE_READ_MANIFEST))
    return jobs, failures


# ------------------------------------------------------------------------------------- Beam


class ManifestOutputs(NamedTuple):
    jobs: beam.PCollection  # FilmJob
    failures: beam.PCollection  # Failure


class _ParseRowFn(beam.DoFn):
    def __init__(self) -> None:
        self._rows = beam.metrics.Metrics.counter("talkie", "manifest_rows")
        self._guard = FailureGuard(STAGE_READ_MANIFEST, catches=ManifestError)

    def process(self, row: ManifestRow) -> Iterator[Any]:
        self._rows.inc()
        with self._guard.catching() as caught:
            job = parse_row(row)
        if caught.error is not None:
            yield self._guard.failure(caught.error, uri=row_uri(row), film_id=None)
            return
        # Yielded outside the guard: a fused downstream step's error is not this row's failure.
        yield job


class ReadManifest(beam.PTransform):
    """Reads ``spec`` when the pipeline runs and emits a ``FilmJob`` per valid row.

    Output: ``ManifestOutputs(jobs, failures)``; rows that fail validation are ``Failure`` records
    with stage ``read_manifest``. A manifest that cannot be read at all fails the pipeline. Rows
    come from one worker: follow this with ``beam.Reshuffle()`` before per-film work.
    """

    def __init__(self, spec: str) -> None:
        super().__init__()
        self._spec = absolute_input(spec)

    def expand(self, pbegin: beam.pvalue.PBegin) -> ManifestOutputs:
        parsed = (
            pbegin
            | "Spec" >> beam.Create([self._spec])
            | "ReadRows" >> beam.FlatMap(read_manifest_rows)
            | "ParseRows" >> beam.ParDo(_ParseRowFn()).with_outputs(FAILURES, main="jobs")
        )
        return ManifestOutputs(jobs=parsed.jobs, failures=parsed[FAILURES])
