"""Opening a media container on local disk or any fsspec URI, with Talkie's errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO

import av

from media import storage
from media.errors import UnreadableMedia


def stream_kinds(container: av.container.Container) -> str:
    """The container's stream types, for error messages: e.g. "audio, subtitle"."""
    return ", ".join(sorted({s.type for s in container.streams})) or "no streams"


@contextlib.contextmanager
def open_container(uri: str) -> Iterator[av.container.InputContainer]:
    """Yields the opened container and closes it (and any fsspec handle) afterwards.

    Raises FileNotFoundError for a missing local path and UnreadableMedia for a file FFmpeg
    cannot open as a media container (empty, random bytes, truncated before its header).
    """
    with contextlib.ExitStack() as stack:
        source: str | IO[bytes]
        if storage.is_local(uri):
            source = storage.local_path(uri)
        else:
            source = stack.enter_context(storage.open_input(uri))
        try:
            container = av.open(source, mode="r", metadata_errors="ignore")
        except FileNotFoundError:
            raise
        except (av.FFmpegError, ValueError, OSError) as e:
            raise UnreadableMedia(f"{uri}: FFmpeg cannot open it as a media container ({e})") from e
        stack.callback(container.close)
        yield container
