"""Storage retries made inside DoFns reach the run's Beam metrics as talkie/storage_retries."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from media import storage
from transforms.storage_metrics import CountsStorageRetries, report_storage_retries

NO_PAUSE = storage.RetryPolicy(attempts=3, first_delay_s=0.0, max_delay_s=0.0)


class _FlakyReadFn(CountsStorageRetries, beam.DoFn):
    """Each element's "read" fails ``element`` times with a dropped connection, then succeeds."""

    def process(self, element: int):
        failures = [element]

        def read() -> int:
            if failures[0]:
                failures[0] -= 1
                raise ConnectionResetError("connection reset by peer")
            return element

        yield storage.with_retries(read, f"read {element}", NO_PAUSE)


def test_retries_inside_a_pipeline_are_counted():
    report_storage_retries()  # retries made earlier in this process belong to no pipeline
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    _ = pipeline | beam.Create([0, 1, 2, 0]) | beam.ParDo(_FlakyReadFn())
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("talkie").with_name("storage_retries"))[
        "counters"
    ]
    assert sum(c.committed for c in counters) == 3


def test_each_retry_is_reported_once():
    report_storage_retries()
    storage.with_retries(_fails_once(), "read", NO_PAUSE)
    assert report_storage_retries() == 1
    assert report_storage_retries() == 0


def _fails_once():
    state = {"failed": False}

    def read() -> str:
        if not state["failed"]:
            state["failed"] = True
            raise TimeoutError("read timed out")
        return "ok"

    return read
