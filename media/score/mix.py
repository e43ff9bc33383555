"""A scored film's mix: the score levelled against the effects and ducked under their events.

The effects are the film track as Talkie assembles it without music (the chosen takes laid on
the film's clock and crossfaded, before loudness normalisation); the score is ``score_track``'s
stem at FluidSynth's level. ``place_score`` returns the score as it sits in the mix, so that

    mix = effects + place_score(effects, score)        (then one loudness gain, media/cut.py)

Levelling. The score is scaled so that its level is SCORE_BELOW_EFFECTS_LU below the effects'
level: BS.1770 integrated loudness where it is defined (media/loudness.py), else the RMS level in
dB (audio under 0.4 s or gated out entirely). With silent effects the score keeps its own level
(the film's loudness gain then sets both); a silent score stays silent.

Ducking (a sidechain keyed by the effects). The effects' level is followed in blocks of BLOCK_S
(RMS, in dB). Their typical level is the median block level (blocks of digital silence left
out); an *event* is a block more than DUCK_THRESHOLD_DB above it. Under an event the score is
turned down, by nothing at the threshold, growing linearly to DUCK_DEPTH_DB at DUCK_RANGE_DB
above it, and no further. So footsteps in silence duck the score at every step, a steady bed of
rain does not, and thunder over the rain does. The reduction is smoothed in dB:

* attack: ATTACK_S of look-ahead. The whole film is known, so the reduction starts ramping down
  ATTACK_S before an event's block and is complete at that block's centre: the score is down
  when the footstep lands (at most DUCK_DEPTH_DB per ATTACK_S, linear in dB);
* release: the score comes back at DUCK_DEPTH_DB per RELEASE_S (linear in dB), the same rate
  from any depth;
* the per-block gain is interpolated linearly between block centres to every sample.

Both ramps are maxima over exponentials-in-dB, computed exactly with cumulative maxima (no
recursion, no loop over samples), so the gain is the same on any machine for equal inputs.
Memory: the film's effects and score, and a few float32 copies made chunk by chunk.
"""

from __future__ import annotations

import math

import numpy as np

from media.loudness import integrated_lufs

SCORE_BELOW_EFFECTS_LU = 4.0  # the score's level under the effects' level, before ducking
BLOCK_S = 0.005  # the sidechain's level is measured over blocks of this length
DUCK_THRESHOLD_DB = 3.0  # a block this far above the effects' median block level is an event
DUCK_RANGE_DB = 10.0  # an event this far above the threshold ducks the score by the full depth
DUCK_DEPTH_DB = 9.0  # the most the score is turned down under an effects event
ATTACK_S = 0.010  # look-ahead ramp: DUCK_DEPTH_DB in this time, before the event
RELEASE_S = 0.400  # recovery: DUCK_DEPTH_DB in this time, after it
MIX_VERSION = "1"  # bump when equal inputs would give another mix
_CHUNK = 1 << 20


def mix_identity() -> str:
    """What decides the mix besides its inputs, for cut keys and provenance tags."""
    return (
        f"mix {MIX_VERSION}: score {SCORE_BELOW_EFFECTS_LU:g} LU under the effects; ducked by up to "
        f"{DUCK_DEPTH_DB:g} dB from {DUCK_THRESHOLD_DB:g} dB to "
        f"{DUCK_THRESHOLD_DB + DUCK_RANGE_DB:g} dB above the effects' median block level, "
        f"{BLOCK_S * 1000:g} ms blocks, attack {ATTACK_S * 1000:g} ms look-ahead, "
        f"release {RELEASE_S * 1000:g} ms"
    )


def level_db(audio: np.ndarray, rate: int) -> float | None:
    """BS.1770 integrated loudness (LUFS), else the RMS level (dBFS); None for silence."""
    lufs = integrated_lufs(audio, rate)
    if lufs is not None:
        return lufs
    x = np.asarray(audio, np.float64)
    rms = math.sqrt(float(np.mean(np.square(x)))) if x.size else 0.0
    return 20 * math.log10(rms) if rms > 0 else None


def score_gain_db(effects: np.ndarray, score: np.ndarray, rate: int) -> float:
    """The gain (dB) that puts ``score`` SCORE_BELOW_EFFECTS_LU under ``effects``; 0 when either
    is silent."""
    effects_level, score_level = level_db(effects, rate), level_db(score, rate)
    if effects_level is None or score_level is None:
        return 0.0
    return effects_level - SCORE_BELOW_EFFECTS_LU - score_level


def duck_gain_db(effects: np.ndarray, rate: int) -> np.ndarray:
    """(blocks,) the score's reduction in dB (<= 0) per BLOCK_S block of ``effects``, attack and
    release applied (module docstring); all zeros for silent effects."""
    x = np.asarray(effects, np.float64)
    block = max(1, round(BLOCK_S * rate))
    count = -(-x.size // block) if x.size else 0
    padded = np.zeros(count * block)
    padded[: x.size] = x
    power = np.mean(np.square(padded.reshape(count, block)), axis=1)
    if count == 0 or not power.any():
        return np.zeros(count)
    levels = 10 * np.log10(np.maximum(power, 1e-30))
    threshold = float(np.median(levels[power > 0])) + DUCK_THRESHOLD_DB
    target = DUCK_DEPTH_DB * np.clip((levels - threshold) / DUCK_RANGE_DB, 0.0, 1.0)  # dB down, >= 0
    steps = np.arange(count, dtype=np.float64)
    release = DUCK_DEPTH_DB * block / (RELEASE_S * rate)  # dB per block
    attack = DUCK_DEPTH_DB * block / (ATTACK_S * rate)
    # release: r[n] = max_k<=n (t[k] - (n - k) * release); attack, looking ahead: max_k>=n (... )
    released = np.maximum.accumulate(target + release * steps) - release * steps
    ahead = np.maximum.accumulate((released - attack * steps)[::-1])[::-1] + attack * steps
    reduction: np.ndarray = -ahead  # ahead >= released: k = n is among its terms
    return reduction


def place_score(effects: np.ndarray, score: np.ndarray, rate: int) -> np.ndarray:
    """(samples,) float32: ``score`` levelled against ``effects`` and ducked under their events;
    ``effects`` + this is the mix before its loudness gain. Both inputs have the same length."""
    e, s = np.asarray(effects), np.asarray(score)
    if e.shape != s.shape or e.ndim != 1:
        raise ValueError(f"effects {e.shape} and score {s.shape}: need mono tracks of one length")
    gain = 10 ** (score_gain_db(e, s, rate) / 20)
    reduction = duck_gain_db(e, rate)
    block = max(1, round(BLOCK_S * rate))
    centres = (np.arange(reduction.size) + 0.5) * block
    out = np.empty(s.size, np.float32)
    for start in range(0, s.size, _CHUNK):
        stop = min(s.size, start + _CHUNK)
        where = np.arange(start, stop, dtype=np.float64)
        db = np.interp(where, centres, reduction) if reduction.size else np.zeros(stop - start)
        out[start:stop] = (s[start:stop].astype(np.float64) * (gain * 10 ** (db / 20))).astype(np.float32)
    return out
