"""Errors raised for input that is not a usable film. Each names the file and what was wrong."""


class MediaError(Exception):
    """A file could not be used as a film; the message says why."""


class UnreadableMedia(MediaError):
    """The file is missing, empty, or not a container that FFmpeg can open."""


class NoVideoStream(MediaError):
    """The container opened but holds no video stream (an audio-only file, say)."""


class NoAudioStream(MediaError):
    """The container opened but holds no audio stream (a silent film, say)."""


class NoDecodableFrames(MediaError):
    """The video stream yielded no frame (truncated before the first keyframe, say)."""


class CorruptVideo(MediaError):
    """The video stream stops decoding partway (a truncated tail, damaged packets): the film's
    length is unknown, so no soundtrack could match what a player shows."""


class StillImage(MediaError):
    """The file is a still picture (PNG, JPEG, ...) that FFmpeg would show as a one-frame video."""
