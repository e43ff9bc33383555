"""Opening a media container on local disk or any fsspec URI, with Talkie's errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, cast

import av

from media import storage
from media.errors import UnreadableMedia
from media.sequence import is_sequence, open_sequence
from media.streaming import open_stream


def stream_kinds(container: av.container.Container) -> str:
    """The container's stream types, for error messages: e.g. "audio, subtitle"."""
    return ", ".join(sorted({s.type for s in container.streams})) or "no streams"


@contextlib.contextmanager
def open_container(uri: str, *, reader: IO[bytes] | None = None) -> Iterator[av.container.InputContainer]:
    """Yields the opened container and closes it (and any fsspec handle) afterwards.

    FFmpeg reads a local file itself and an object through ``media.streaming.open_stream``
    (ranged reads, never the whole object), or ``reader`` when given: the file's bytes already
    opened by the caller (``media.streaming``), closed here with the container.

    Raises FileNotFoundError for a missing local path and UnreadableMedia for a file FFmpeg
    cannot open as a media container (empty, random bytes, truncated before its header). A frame
    sequence's URI (``media.sequence``) gives that module's stand-in: one video stream, no audio.
    """
    if is_sequence(uri):
        with open_sequence(uri) as (sequence, _):
            yield cast(av.container.InputContainer, sequence)
        return
    with contextlib.ExitStack() as stack:
        source: str | IO[bytes]
        if reader is not None:
            source = stack.enter_context(reader)
        elif storage.is_local(uri):
            source = storage.local_path(uri)
        else:
            source = stack.enter_context(open_stream(uri))
        try:
            container = av.open(source, mode="r", metadata_errors="ignore")
        except FileNotFoundError:
            raise
        except (av.FFmpegError, ValueError, OSError) as e:
            raise UnreadableMedia(f"{uri}: FFmpeg cannot open it as a media container ({e})") from e
        stack.callback(container.close)
        yield container
