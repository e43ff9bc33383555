"""A film's sound track from its scenes' audio, sample-accurate to the film's timeline.

Per docs/design.md's Contracts ("Time"): at the output rate (48 kHz) a scene from t0 to t1 seconds
(measured from the first frame, exact fractions of the stream time base) owns samples
[round(t0 * rate), round(t1 * rate)), and the film track has round(duration * rate) samples.
Rounding is Python's ``round`` on a Fraction: exact, halves to even. Consecutive scenes share
their boundary time, so the ranges tile the track with no gap and no overlap.

A scene's audio may reach past its range so that cuts can be crossfaded (``SceneAudio``):

    audio = [ lead samples | end_sample - start_sample own samples | tail samples ]
             plays before     plays on [start_sample, end_sample)    plays after
             start_sample                                              end_sample

At a cut c (one scene's end, the next one's start) a crossfade of ``crossfade_samples`` n is
centred on c: it spans [c - n//2, c + n - n//2). The outgoing scene fades out over that span
as far as it has audio (its own samples, then its tail), the incoming one fades in over it
from as early as it has audio (its lead, then its own samples). Each fade is a raised cosine
(media/blend.py) over the part of the span where that scene has audio. With a full lead and
tail both fades cover the whole span and their weights sum to one, so the cut is a crossfade;
with neither, the first scene fades to silence at c and the next rises from it (a short dip,
never a click); with one of the two, the fades are as long as the audio allows. Within a scene
shorter than its fades, each half-span is limited to half the scene, so no more than two
scenes ever sound at once. Lead before the film's first sample and tail after its last are
ignored.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from media.blend import raised_cosine

OUTPUT_RATE = 48000


@dataclass(frozen=True)
class SceneAudio:
    """One scene's audio at the output rate: ``lead`` + own + ``tail`` samples (module docstring)."""

    start_sample: int
    end_sample: int  # exclusive
    audio: np.ndarray  # (lead + end_sample - start_sample + tail,) float
    lead: int = 0  # samples before start_sample, for the crossfade into this scene
    tail: int = 0  # samples after end_sample, for the crossfade out of it

    @property
    def samples(self) -> int:
        return self.end_sample - self.start_sample


def scene_sample_range(start_s: Fraction, end_s: Fraction, rate: int = OUTPUT_RATE) -> tuple[int, int]:
    """(round(start_s * rate), round(end_s * rate)): exact rational arithmetic, halves to even.

    ``start_s`` and ``end_s`` are seconds from the film's first frame as exact rationals
    (Fraction or int, e.g. ``Fraction(start_pts - first_pts) * Fraction(time_base)``); floats
    are refused because they would make the rounding depend on binary approximations.
    """
    for name, value in (("start_s", start_s), ("end_s", end_s)):
        if isinstance(value, bool) or not isinstance(value, numbers.Rational):
            raise ValueError(
                f"{name}={value!r}: need an exact number of seconds (Fraction or int), not a float"
            )
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"rate={rate!r}: need a positive whole number of hertz")
    if not 0 <= start_s <= end_s:
        raise ValueError(f"start_s={start_s}, end_s={end_s}: need 0 <= start_s <= end_s")
    return round(Fraction(start_s) * int(rate)), round(Fraction(end_s) * int(rate))


def assemble_film_track(
    scenes: Sequence[SceneAudio], total_samples: int, *, crossfade_samples: int
) -> np.ndarray:
    """(total_samples,) float32: each scene's own samples in its range, cuts crossfaded (module docstring).

    Raises ValueError naming the scene when the scenes leave a gap, overlap, miss either end of
    [0, total_samples), or carry audio of the wrong length.
    """
    if (
        isinstance(total_samples, bool)
        or not isinstance(total_samples, (int, np.integer))
        or total_samples < 0
    ):
        raise ValueError(f"total_samples={total_samples!r}: need a sample count >= 0")
    if (
        isinstance(crossfade_samples, bool)
        or not isinstance(crossfade_samples, (int, np.integer))
        or crossfade_samples < 0
    ):
        raise ValueError(f"crossfade_samples={crossfade_samples!r}: need a sample count >= 0")
    _check_tiling(scenes, total_samples)
    out = np.zeros(total_samples, np.float32)
    for scene in scenes:
        own = np.asarray(scene.audio)[scene.lead : scene.lead + scene.samples]
        out[scene.start_sample : scene.end_sample] = own
    for outgoing, incoming in zip(scenes, scenes[1:]):
        cut = outgoing.end_sample
        before, after = _half_before(outgoing, crossfade_samples), _half_after(incoming, crossfade_samples)
        if before + after == 0:
            continue
        tail, lead = min(outgoing.tail, after), min(incoming.lead, before)
        ends_at = outgoing.lead + outgoing.samples  # index of the outgoing scene's first tail sample
        fading_out = np.asarray(outgoing.audio)[ends_at - before : ends_at + tail].astype(np.float64)
        fading_in = np.asarray(incoming.audio)[incoming.lead - lead : incoming.lead + after].astype(
            np.float64
        )
        mix = np.zeros(before + after, np.float64)
        mix[: before + tail] += fading_out * (1.0 - raised_cosine(before + tail))
        mix[before - lead :] += fading_in * raised_cosine(lead + after)
        # With a full lead and tail both fades share one span and r + (1 - r) = 1: a sound the two
        # scenes share comes out at its level (and, rounded once to float32, as its own samples).
        out[cut - before : cut + after] = mix
    return out


def _half_before(outgoing: SceneAudio, n: int) -> int:
    """Samples before a cut that its crossfade spans: n//2, at most half the outgoing scene."""
    return min(n // 2, outgoing.samples // 2)


def _half_after(incoming: SceneAudio, n: int) -> int:
    """Samples from a cut on that its crossfade spans: n - n//2, at most half the incoming scene."""
    return min(n - n // 2, incoming.samples // 2)


def _check_tiling(scenes: Sequence[SceneAudio], total: int) -> None:
    if not scenes:
        if total:
            raise ValueError(f"no scenes to cover total_samples={total}")
        return
    expected = 0
    for k, scene in enumerate(scenes):
        name = f"scene {k} [{scene.start_sample}, {scene.end_sample})"
        for field in ("start_sample", "end_sample", "lead", "tail"):
            value = getattr(scene, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name}: {field}={value!r} is not a whole number of samples")
        if scene.lead < 0 or scene.tail < 0:
            raise ValueError(f"{name}: lead={scene.lead}, tail={scene.tail}: need counts >= 0")
        if scene.start_sample > expected:
            raise ValueError(
                f"{name}: gap of {scene.start_sample - expected} samples after sample {expected}"
            )
        if scene.start_sample < expected:
            raise ValueError(
                f"{name}: overlaps the scene before it by {expected - scene.start_sample} samples"
            )
        if scene.end_sample < scene.start_sample:
            raise ValueError(f"{name}: ends before it starts")
        audio = np.asarray(scene.audio)
        want = scene.lead + scene.samples + scene.tail
        if audio.ndim != 1 or audio.shape[0] != want:
            raise ValueError(
                f"{name}: audio has shape {audio.shape}, need ({want},) = lead {scene.lead} + "
                f"{scene.samples} own + tail {scene.tail}"
            )
        if not np.issubdtype(audio.dtype, np.floating):
            raise ValueError(f"{name}: audio has dtype {audio.dtype}, need floating-point samples")
        expected = scene.end_sample
    if expected != total:
        raise ValueError(
            f"scene {len(scenes) - 1} ends at sample {expected}, but total_samples={total}: "
            "the scenes must tile [0, total_samples) exactly"
        )
