"""Storage retries as a Beam counter (docs/design.md, Conventions: count with beam.metrics).

``media.storage`` retries transient errors and keeps a per-process count (``storage.retries()``;
media/ never imports Beam). The DoFns that read or write storage inherit ``CountsStorageRetries``,
whose ``finish_bundle`` adds the process's retries since the last report to the ``talkie`` /
``storage_retries`` counter, so a run's metrics show how often storage stumbled. Retries made by
one DoFn may be reported by another in the same process: the total is what counts.
"""

from __future__ import annotations

import threading

import apache_beam as beam

from media import storage

STORAGE_RETRIES = beam.metrics.Metrics.counter("talkie", "storage_retries")

_reported = 0
_lock = threading.Lock()


def report_storage_retries() -> int:
    """Adds this process's retries since the last call to ``STORAGE_RETRIES``; returns how many."""
    global _reported
    with _lock:
        now = storage.retries()
        new, _reported = now - _reported, now
    if new:
        STORAGE_RETRIES.inc(new)
    return new


class CountsStorageRetries:
    """A DoFn mixin (list it before ``beam.DoFn``): reports storage retries at the end of each bundle."""

    def finish_bundle(self):
        report_storage_retries()
