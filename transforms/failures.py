"""Failure records: bad input is data, not a crash (docs/design.md, "Rules").

Every fallible transform sends one ``Failure`` per bad element to an output tagged ``FAILURES``
and lets the rest of the collection go on. ``Failure`` becomes a row of the ``failures`` table;
its ``stage`` is one of ``transforms.stages``. ``FailureGuard`` is how a DoFn makes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import Metrics

from media.storage import redact as redact  # URIs are redacted where they are stored or printed

log = logging.getLogger(__name__)

FAILURES = "failures"  # the tag of every transform's failure output

MAX_ERROR_CHARS = 2000


def redacted_repr(record: Any) -> str:
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


@dataclass
class Caught:
    """What ``FailureGuard.catching`` caught: the exception, or None when the block finished."""

    error: Exception | None = None


class FailureGuard:
    """The failure handling of one stage's DoFn: an exception on one element becomes that element's
    ``Failure`` and the rest of the collection goes on.

    Each failure is counted in ``talkie/failures_<stage>``, logged at WARNING when ``warns``, and
    given to the DoFn to yield, tagged ``FAILURES`` (or untagged, ``tag=None``, for a DoFn whose
    main output is its failures)::

        with self._guard.catching() as caught:
            plan = plan_film(film, settings)
        if caught.error is not None:
            yield self._guard.failure(caught.error, uri=film.job.video_input, film_id=film.film_id)
            return
        yield plan  # outside the guard: a fused downstream step's error is not this element's failure

    ``catches`` narrows what becomes a failure (the manifest's rows: only ``ManifestError``); any
    other exception fails the bundle, as Beam would.
    """

    def __init__(
        self,
        stage: str,
        *,
        catches: type[Exception] | tuple[type[Exception], ...] = Exception,
        warns: bool = False,
        tag: str | None = FAILURES,
    ) -> None:
        self.stage = stage
        self._catches = catches
        self._warns = warns
        self._tag = tag
        self._counter: Any = Metrics.counter("talkie", f"failures_{stage}")

    @contextlib.contextmanager
    def catching(self) -> Iterator[Caught]:
        """Runs the block; an exception of ``catches`` ends it and is kept in ``Caught.error``."""
        caught = Caught()
        try:
            yield caught
        except self._catches as exc:  # one element's failure must not stop the others
            caught.error = exc

    def failure(
        self, error: BaseException, *, uri: str, film_id: str | None, prefix: str = "", suffix: str = ""
    ) -> Any:
        """``error`` as the failure of the element named by ``uri`` and ``film_id`` (``failure_from``,
        then ``prefix`` and ``suffix`` around its message), counted, logged, and ready to yield."""
        failure = failure_from(error, uri=uri, film_id=film_id, stage=self.stage)
        if prefix or suffix:
            failure = dataclasses.replace(failure, error=f"{prefix}{failure.error}{suffix}")
        return self.output(failure)

    def output(self, failure: Failure) -> Any:
        """A ``Failure`` made by the DoFn itself, counted, logged, and ready to yield."""
        self._counter.inc()
        if self._warns:
            log.warning(
                "%s: %s failed: %s: %s", failure.uri, failure.stage, failure.error_type, failure.error
            )
        return failure if self._tag is None else beam.pvalue.TaggedOutput(self._tag, failure)
