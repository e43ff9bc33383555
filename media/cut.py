"""A film cut from its scenes' stems: the track, its loudness, and its FLAC and MKV bytes.

The one assembly path shared by the restore job (``transforms.assemble``) and ``talkie choose``
(a new cut of an existing film from the stems already generated), so that both lay scenes on
the film's clock, crossfade, normalise and encode identically:

    read_stem  ->  SceneAudio per scene  ->  render_track  ->  cut_files

``render_track`` is ``media.track.assemble_film_track`` (scene s owns samples
``round(t0 * 48000)`` to ``round(t1 * 48000)``) followed by ``media.loudness.normalise_loudness``
(one gain for the whole track). ``cut_files`` encodes the 24-bit FLAC and muxes the MKV with
the source's streams copied (``media.mux``); both are deterministic.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

import numpy as np

from media.flac import decode_flac, encode_flac
from media.loudness import LoudnessResult, normalise_loudness
from media.mux import mux_with_soundtrack
from media.track import OUTPUT_RATE, SceneAudio, assemble_film_track

FLAC_BITS = 24


def read_stem(data: bytes, *, uri: str, sha256: str, samples: int) -> np.ndarray:
    """A scene stem's 48 kHz samples from its FLAC ``data``, after checking the bytes against the
    SHA-256 its ledger recorded and the length against its scene's ``samples``."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ValueError(
            f"stem {uri} has SHA-256 {digest}, but its ledger object records "
            f"{sha256}: it changed after it was generated (rerun with --force)"
        )
    audio, rate, _ = decode_flac(data)
    if rate != OUTPUT_RATE or audio.shape != (samples,):
        raise ValueError(
            f"stem {uri} holds {audio.shape[0]} samples at {rate} Hz; its scene needs "
            f"{samples} at {OUTPUT_RATE} Hz"
        )
    return audio


def render_track(
    scenes: Sequence[SceneAudio],
    total_samples: int,
    *,
    crossfade_samples: int,
    target_lufs: float,
    max_true_peak_dbtp: float,
) -> tuple[np.ndarray, LoudnessResult]:
    """(total_samples,) float32 film track, loudness-normalised, and what the normaliser did."""
    track = assemble_film_track(scenes, total_samples, crossfade_samples=crossfade_samples)
    return normalise_loudness(
        track, OUTPUT_RATE, target_lufs=target_lufs, max_true_peak_dbtp=max_true_peak_dbtp
    )


def loudness_tag(loudness: LoudnessResult) -> str:
    """The TALKIE_LOUDNESS tag: method, integrated loudness and true peak after normalisation."""
    return json.dumps(
        {
            "method": loudness.method,
            "lufs": None if loudness.lufs_after is None else round(float(loudness.lufs_after), 2),
            "true_peak_dbtp": None
            if loudness.true_peak_dbtp is None
            else round(float(loudness.true_peak_dbtp), 2),
        },
        sort_keys=True,
    )


def cut_files(
    audio: np.ndarray, source_video: str, *, tags: Mapping[str, str], title: str
) -> tuple[bytes, bytes]:
    """(FLAC bytes, MKV bytes) of a film cut: the track as 24-bit FLAC, and the source's streams
    copied with that FLAC as the default audio, both carrying ``tags``."""
    flac = encode_flac(np.asarray(audio, dtype=np.float32), OUTPUT_RATE, bits=FLAC_BITS, tags=tags)
    video = mux_with_soundtrack(source_video, flac, tags=tags, title=title)
    return flac, video
