"""A film cut from its scenes' stems: the track, its loudness, and its FLAC and MKV bytes.

The one assembly path shared by the restore job (``transforms.assemble``) and ``talkie choose``
(a new cut of an existing film from the stems already generated), so that both lay scenes on
the film's clock, crossfade, mix, normalise and encode identically:

    read_stem  ->  SceneAudio per scene  ->  render_cut  ->  cut_files

``render_cut`` without a score is ``render_track``: ``media.track.assemble_film_track`` (scene s
owns samples ``round(t0 * 48000)`` to ``round(t1 * 48000)``) followed by
``media.loudness.normalise_loudness`` (one gain for the whole track). With a score (a film whose
cue sheet has music, ``media.score``) the assembled track is the *effects*; the score is levelled
against it and ducked under its events (``media.score.mix.place_score``), the two are summed into
the *mix*, and the mix is normalised. Both stems get the mix's gain, so effects + score = mix
(each rounded to 24 bits on its own). ``cut_files`` encodes the 24-bit FLACs and muxes the MKV
with the source's streams copied (``media.mux``): the mix as the default audio, the effects and
score stems as further titled tracks. Everything is deterministic.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from media.flac import decode_flac, encode_flac
from media.loudness import LoudnessResult, normalise_loudness
from media.mux import Stem, mux_with_soundtrack
from media.track import OUTPUT_RATE, SceneAudio, assemble_film_track

FLAC_BITS = 24
# MKV track titles: what each track is. A film without a score keeps media.mux.SOUNDTRACK_TITLE.
MIX_TITLE = "Talkie mix (effects and score)"
EFFECTS_TITLE = "Talkie effects"
SCORE_TITLE = "Talkie score"
_CHUNK = 1 << 20


class Cut(NamedTuple):
    """A film cut's audio: the track (the mix, when scored), what the normaliser did, and the two
    stems at the mix's gain (None for a film without a score)."""

    track: np.ndarray
    loudness: LoudnessResult
    effects: np.ndarray | None = None
    score: np.ndarray | None = None


class CutFiles(NamedTuple):
    """A film cut's bytes: its FLAC, MKV, and (scored films only) the effects and score FLACs."""

    flac: bytes
    video: bytes
    effects_flac: bytes | None = None
    score_flac: bytes | None = None


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


def render_cut(
    scenes: Sequence[SceneAudio],
    total_samples: int,
    *,
    score: np.ndarray | None,
    crossfade_samples: int,
    target_lufs: float,
    max_true_peak_dbtp: float,
) -> Cut:
    """The cut's audio (module docstring). ``score`` is the film's (total_samples,) score stem at
    the synth's level, or None: then the track is ``render_track``'s, bit for bit."""
    if score is None:
        track, loudness = render_track(
            scenes,
            total_samples,
            crossfade_samples=crossfade_samples,
            target_lufs=target_lufs,
            max_true_peak_dbtp=max_true_peak_dbtp,
        )
        return Cut(track, loudness)
    from media.score.mix import place_score

    if np.shape(score) != (total_samples,):
        raise ValueError(f"the score has shape {np.shape(score)}; the film needs ({total_samples},)")
    effects = assemble_film_track(scenes, total_samples, crossfade_samples=crossfade_samples)
    placed = place_score(effects, score, OUTPUT_RATE)
    mix = _summed(effects, placed)
    track, loudness = normalise_loudness(
        mix, OUTPUT_RATE, target_lufs=target_lufs, max_true_peak_dbtp=max_true_peak_dbtp
    )
    del mix
    gain = 10 ** (loudness.gain_db / 20)  # as normalise_loudness applies it
    return Cut(track, loudness, effects=_scaled(effects, gain), score=_scaled(placed, gain))


def _summed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape[0], np.float32)
    for start in range(0, a.shape[0], _CHUNK):
        stop = start + _CHUNK
        out[start:stop] = (a[start:stop].astype(np.float64) + b[start:stop]).astype(np.float32)
    return out


def _scaled(x: np.ndarray, gain: float) -> np.ndarray:
    out = np.empty(x.shape[0], np.float32)
    for start in range(0, x.shape[0], _CHUNK):
        stop = start + _CHUNK
        out[start:stop] = (x[start:stop].astype(np.float64) * gain).astype(np.float32)
    return out


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
    audio: np.ndarray,
    source_video: str,
    *,
    tags: Mapping[str, str],
    title: str,
    effects: np.ndarray | None = None,
    score: np.ndarray | None = None,
    stem_tags: Mapping[str, Mapping[str, str]] = {},
) -> CutFiles:
    """A film cut's bytes: the track as 24-bit FLAC, and the source's streams copied with that FLAC
    as the default audio, both carrying ``tags``. With ``effects`` and ``score`` (a scored cut,
    ``render_cut``) those stems are encoded too, each with ``tags`` plus ``stem_tags["effects"]``
    or ``stem_tags["score"]``, and muxed after the mix as tracks titled EFFECTS_TITLE and
    SCORE_TITLE; the mix is then titled MIX_TITLE."""
    flac = encode_flac(np.asarray(audio, dtype=np.float32), OUTPUT_RATE, bits=FLAC_BITS, tags=tags)
    if effects is None and score is None:
        return CutFiles(flac, mux_with_soundtrack(source_video, flac, tags=tags, title=title))
    if effects is None or score is None:
        raise ValueError("a scored cut needs both stems, effects and score")
    stems = []
    for name, stem, stem_title in (("effects", effects, EFFECTS_TITLE), ("score", score, SCORE_TITLE)):
        own = dict(stem_tags.get(name, {}))
        data = encode_flac(
            np.asarray(stem, dtype=np.float32), OUTPUT_RATE, bits=FLAC_BITS, tags={**tags, **own}
        )
        stems.append(Stem(data, stem_title, own))
    video = mux_with_soundtrack(
        source_video, flac, tags=tags, title=title, soundtrack_title=MIX_TITLE, stems=stems
    )
    return CutFiles(flac, video, effects_flac=stems[0].flac, score_flac=stems[1].flac)
