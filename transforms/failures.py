"""Failure records: bad input is data, not a crash (DESIGN.md, "Rules").

Every fallible transform sends one ``Failure`` per bad element to an output tagged ``FAILURES``
and lets the rest of the collection go on. ``Failure`` becomes a row of the ``failures`` table.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

FAILURES = "failures"  # the tag of every transform's failure output

# Stage names, as they appear in the failures table's `stage` column.
STAGE_READ_MANIFEST = "read_manifest"
STAGE_PROBE_AND_SHARD = "probe_and_shard"
STAGE_DEDUPLICATE_FILMS = "deduplicate_films"
STAGE_WRITE_SHOTLIST = "write_shotlist"

MAX_ERROR_CHARS = 2000

# scheme://user:password@host/...  ->  scheme://***@host/...
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
# ?X-Amz-Signature=...&token=...  ->  values of credential-like query parameters hidden
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[\w-]*(?:signature|credential|token|secret|password|passwd|sig|key)[\w-]*)=)[^&\s#'\"(),;:]+"
)


def redact(text: str) -> str:
    """``text`` with URL user-info and credential-like query parameter values replaced by ***,
    and lone surrogates (a file name's undecodable bytes) written as escapes, so that every
    table, tag and log line can store it as UTF-8."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = _USERINFO.sub(r"\1***@", text)
    return _SECRET_PARAM.sub(r"\1***", text)


def redacted_repr(record) -> str:
    """The dataclass ``record``'s usual repr with ``redact`` applied: the repr of the records that
    carry a film's URI, which Beam's workers log (at DEBUG) and put in error messages."""
    fields = ", ".join(f"{f.name}={getattr(record, f.name)!r}" for f in dataclasses.fields(record) if f.repr)
    return redact(f"{type(record).__name__}({fields})")


@dataclass(frozen=True)
class Failure:
    """One element that a stage could not process. ``uri`` is the film (or manifest row) it names."""

    uri: str
    film_id: str | None
    stage: str
    error_type: str
    error: str


def failure_from(exc: BaseException, *, uri: str, film_id: str | None, stage: str) -> Failure:
    """A ``Failure`` for ``exc``, with credentials redacted and the message bounded in length."""
    message = redact(str(exc) or repr(exc))
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 1] + "…"
    return Failure(
        uri=redact(uri),
        film_id=film_id,
        stage=stage,
        error_type=type(exc).__name__,
        error=message,
    )
