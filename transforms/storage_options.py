"""Beam's ``--s3_*`` pipeline options for Talkie's own object-store I/O.

Beam's s3:// file system (the Parquet sinks) reads ``S3Options`` from the pipeline options; Talkie
reads and writes films, stems, ledger objects and checkpoints through s3fs (``media.storage``),
which would otherwise see only the AWS environment. ``s3_storage_options`` turns the flags into
s3fs arguments. The launcher puts them in force in its own process (``pipelines.options``); a
worker process follows the options of the pipeline it runs, which Beam gives every worker
(``FileSystems.set_options``, called by Pipeline() and by each SDK harness at start), through the
source this package registers on import (``transforms/__init__.py``).
"""

from __future__ import annotations

import threading
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, S3Options

from media import storage

_lock = threading.Lock()
_last: tuple[PipelineOptions, dict[str, Any]] | None = None  # (options object, its s3fs arguments)


def s3_storage_options(options: PipelineOptions) -> dict[str, Any]:
    """s3fs arguments (``media.storage.s3fs_options``) for the ``--s3_*`` flags in ``options``."""
    s3 = options.view_as(S3Options)
    return storage.s3fs_options(
        access_key_id=s3.s3_access_key_id,
        secret_access_key=s3.s3_secret_access_key,
        session_token=s3.s3_session_token,
        endpoint_url=s3.s3_endpoint_url,
        region_name=s3.s3_region_name,
        api_version=s3.s3_api_version,
        verify=s3.s3_verify,
        disable_ssl=bool(s3.s3_disable_ssl),
    )


def pipeline_s3_options() -> dict[str, Any]:
    """The s3fs arguments of the pipeline options Beam set in this process ({} before any)."""
    global _last
    from apache_beam.io.filesystems import FileSystems

    options = FileSystems._pipeline_options  # Beam's own s3:// file system reads the same object
    if options is None:
        return {}
    with _lock:
        if _last is None or _last[0] is not options:
            _last = (options, s3_storage_options(options))
        return _last[1]
