"""Listing files on local disk or any fsspec URI (media.storage reads and writes them)."""

from __future__ import annotations

import glob
import os

from media import storage


def match_files(pattern: str) -> list[str]:
    """Files (not folders) matching a local or fsspec glob, sorted; URIs keep their scheme."""
    if "://" not in pattern:
        return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    fs, path = storage.filesystem(pattern)
    # Object-store file systems (gcsfs, s3fs) cache listings per process and never expire them, so
    # objects written since by Beam's own sinks or other workers would be missing here, and readers
    # that look files up through the same instance afterwards (pyarrow's FSSpecHandler) would fail.
    fs.invalidate_cache()
    found = fs.glob(path, detail=True)
    return sorted(fs.unstrip_protocol(p) for p, info in found.items() if info.get("type") == "file")


def absolute_uri(uri: str) -> str:
    """``uri`` with a relative local path made absolute; URIs are returned as given. No I/O."""
    return uri if "://" in uri else os.path.abspath(uri)
