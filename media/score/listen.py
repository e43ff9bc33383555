"""Listening to a rendered score: tempo, key and mode, change points and tonality of the AUDIO.

These measure what a listener hears, never the composer's plan; bench/score.py and the tests
use them on FluidSynth's output. Inputs are float mono arrays at ``sr`` Hz. numpy and scipy.

* Onset envelope: Hann STFT (ONSET_FFT, hop ONSET_HOP) of the track, magnitudes compressed as
  log(1 + 1000 |X|) and summed in 24 log-spaced bands from 60 Hz to 12 kHz, then the positive
  rise from frame to frame summed over bands (spectral flux), minus its 1 s moving mean.
* Tempo: the onset envelope's autocorrelation over lags for 30..320 BPM, weighted by a
  log-normal prior on tempo (centre PRIOR_BPM, one octave standard deviation), as in Ellis,
  "Beat tracking by dynamic programming" (2007) and librosa's ``tempo``; the best lag is refined
  by a parabola through its neighbours.
* Chroma: per CHROMA_FFT frame, the magnitude of every bin between 65 Hz (C2) and 2.1 kHz (C7),
  log-compressed, summed into its nearest equal-tempered pitch class (A4 = 440 Hz).
* Key: the summed chroma correlated with the Krumhansl-Kessler major and minor probe-tone
  profiles (Krumhansl, "Cognitive Foundations of Musical Pitch", 1990) in all 12 rotations; the
  best of the 24 is the key.
* Change points: Foote's novelty (Foote, "Automatic audio segmentation using a measure of
  audio novelty", 2000) as MSAF's Foote segmenter computes it (Nieto and Bello, "Systematic
  exploration of computational music structure research", ISMIR 2016), with lengths in beats of
  the measured tempo since scenes last seconds, not minutes: ``texture_features`` (chroma,
  spectral shape over octaves, level) median-filtered over SMOOTH_BEATS beats, their cosine
  self-similarity, a Gaussian-tapered checkerboard kernel reaching NOVELTY_HALF_BEATS beats to
  each side, and peaks above an adaptive threshold (the novelty's median over PEAK_WINDOW_BEATS
  beats plus a twentieth of its mean).
* Tonality: per TONAL_FFT frame the share of the frame's spectral energy held by its top 1% of
  bins; frames within LOUD_DB of the track's 95th-percentile frame energy are the loud ones.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d
from scipy.signal import find_peaks, stft

ONSET_FFT = 2048
ONSET_HOP = 512
PRIOR_BPM = 120.0
MIN_BPM, MAX_BPM = 30.0, 320.0
CHROMA_FFT = 8192
CHROMA_HOP = 2048
NOVELTY_HALF_BEATS = 3.0
SMOOTH_BEATS = 2.0
NOVELTY_MIN_GAP_BEATS = 1.0
PEAK_WINDOW_BEATS = 16.0
TONAL_FFT = 4096
LOUD_DB = 20.0

# Krumhansl-Kessler probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_NAMES = ("C", "C-sharp", "D", "E-flat", "E", "F", "F-sharp", "G", "A-flat", "A", "B-flat", "B")


def _spectrogram(audio: np.ndarray, sr: int, n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames, bins) magnitudes of a Hann STFT and the bins' frequencies (Hz)."""
    x = np.asarray(audio, np.float64)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    freqs, _, spec = stft(
        x, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary=None, padded=False
    )
    return np.abs(spec).T, freqs


def onset_envelope(audio: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """(frames,) spectral-flux onset strength and its frame rate (frames per second)."""
    mag, freqs = _spectrogram(audio, sr, ONSET_FFT, ONSET_HOP)
    edges = np.geomspace(60.0, min(12000.0, sr / 2), 25)
    band = np.clip(np.searchsorted(edges, freqs) - 1, -1, 24)
    keep = (band >= 0) & (band < 24)
    compressed = np.log1p(1000.0 * mag[:, keep])
    bands = np.zeros((mag.shape[0], 24))
    np.add.at(bands.T, band[keep], compressed.T)
    flux = np.maximum(np.diff(bands, axis=0, prepend=bands[:1]), 0.0).sum(axis=1)
    rate = sr / ONSET_HOP
    flux = flux - uniform_filter1d(flux, max(1, int(rate)), mode="nearest")
    return np.maximum(flux, 0.0), rate


def tempo_bpm(audio: np.ndarray, sr: int) -> float:
    """The track's tempo in BPM (0.0 for silence or a track too short to tell)."""
    env, rate = onset_envelope(audio, sr)
    env = env - env.mean()
    if env.size < 4 or not np.any(env):
        return 0.0
    size = 1 << int(np.ceil(np.log2(2 * env.size)))
    spectrum = np.fft.rfft(env, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: env.size]
    acf = acf / np.arange(env.size, 0, -1)  # unbiased: each lag's mean product
    lags = np.arange(env.size, dtype=np.float64)
    low, high = int(np.floor(rate * 60 / MAX_BPM)), int(np.ceil(rate * 60 / MIN_BPM))
    high = min(high, env.size - 2)
    if high <= max(low, 1):
        return 0.0
    candidates = lags[max(low, 1) : high + 1]
    bpm = 60.0 * rate / candidates
    prior = np.exp(-0.5 * np.log2(bpm / PRIOR_BPM) ** 2)
    score = np.maximum(acf[max(low, 1) : high + 1], 0.0) * prior
    best = int(np.argmax(score))
    lag = candidates[best]
    if 0 < best < len(score) - 1:
        a, b, c = score[best - 1 : best + 2]
        if a - 2 * b + c < 0:
            lag += 0.5 * (a - c) / (a - 2 * b + c)
    return float(60.0 * rate / lag)


def chroma_frames(audio: np.ndarray, sr: int, hop: int = CHROMA_HOP) -> np.ndarray:
    """(frames, 12) log-compressed pitch-class magnitudes, C first."""
    mag, freqs = _spectrogram(audio, sr, CHROMA_FFT, hop)
    keep = (freqs >= 65.0) & (freqs <= 2100.0)
    classes = np.mod(np.round(12 * np.log2(freqs[keep] / 440.0)).astype(int) + 9, 12)
    chroma = np.zeros((mag.shape[0], 12))
    np.add.at(chroma.T, classes, np.log1p(100.0 * mag[:, keep]).T)
    return chroma


def estimate_key(audio: np.ndarray, sr: int) -> tuple[str, float]:
    """("<tonic> major|minor", correlation) of the Krumhansl-Kessler profile that fits best."""
    return key_of_chroma(chroma_frames(audio, sr).sum(axis=0))


def key_of_chroma(chroma: np.ndarray) -> tuple[str, float]:
    best = ("C major", -2.0)
    for tonic in range(12):
        for name, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]) if np.ptp(chroma) > 0 else 0.0
            if r > best[1]:
                best = (f"{PITCH_NAMES[tonic]} {name}", r)
    return best


def texture_features(audio: np.ndarray, sr: int, beat_s: float) -> tuple[np.ndarray, float]:
    """(frames, 21) what is playing, and the frame rate: three equally weighted groups, chroma
    (12, each frame's summing to 1), the spectrum's shape over 8 octave bands from A1 (band level
    minus the frame's level, dB: register) and the frame's level (1, dB: dynamics). Each feature
    is median-filtered over SMOOTH_BEATS beats (as MSAF's Foote segmenter filters its features),
    centred over the track, and each group scaled to unit RMS length."""
    mag, freqs = _spectrogram(audio, sr, CHROMA_FFT, CHROMA_HOP)
    rate = sr / CHROMA_HOP
    chroma = chroma_frames(audio, sr)
    chroma = chroma / (chroma.sum(axis=1, keepdims=True) + 1e-12)
    edges = 55.0 * 2.0 ** np.arange(9)
    octave = np.clip(np.searchsorted(edges, freqs) - 1, -1, 8)
    keep = (octave >= 0) & (octave < 8)
    power = mag[:, keep] ** 2
    bands = np.zeros((mag.shape[0], 8))
    np.add.at(bands.T, octave[keep], power.T)
    floor = 1e-10 * max(float(power.sum(axis=1).max()), 1e-20)
    level_db = 10 * np.log10(power.sum(axis=1, keepdims=True) + floor)
    shape_db = 10 * np.log10(bands + floor) - level_db
    width = max(1, round(SMOOTH_BEATS * beat_s * rate))
    groups = []
    for group in (chroma, shape_db, level_db):
        smooth = median_filter(group, size=(width, 1), mode="nearest")
        centred = smooth - smooth.mean(axis=0)
        groups.append(centred / (np.sqrt(np.mean(centred**2) * group.shape[1]) + 1e-12))
    return np.concatenate(groups, axis=1), rate


def novelty(audio: np.ndarray, sr: int, beat_s: float | None = None) -> tuple[np.ndarray, float]:
    """(frames,) Foote novelty of the track (frame i centred at i * CHROMA_HOP + CHROMA_FFT / 2
    samples) and its frame rate (frames per second). Features are averaged over one beat and
    the kernel spans NOVELTY_HALF_BEATS beats on each side; ``beat_s`` None: 60 / tempo_bpm."""
    if beat_s is None:
        bpm = tempo_bpm(audio, sr)
        beat_s = 60.0 / bpm if bpm > 0 else 0.5
    feats, rate = texture_features(audio, sr, beat_s)
    feats = feats / (np.linalg.norm(feats, axis=1, keepdims=True) + 1e-12)
    similarity = feats @ feats.T
    half = max(2, round(NOVELTY_HALF_BEATS * beat_s * rate))
    axis = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (axis / (0.5 * half)) ** 2)
    kernel = np.outer(taper, taper) * np.sign(axis)[:, None] * np.sign(axis)[None, :]
    padded = np.pad(similarity, half, mode="edge")
    n = similarity.shape[0]
    curve = np.array([(padded[i : i + 2 * half, i : i + 2 * half] * kernel).sum() for i in range(n)])
    return np.maximum(curve, 0.0), rate


def change_points(audio: np.ndarray, sr: int, beat_s: float | None = None) -> np.ndarray:
    """(points,) times (s) where the music changes: peaks of the novelty (scaled to a maximum of
    1) at least NOVELTY_MIN_GAP_BEATS apart that rise above its median over PEAK_WINDOW_BEATS
    beats plus a twentieth of its mean (MSAF's adaptive threshold); ``beat_s`` None: 60 /
    tempo_bpm (measured)."""
    if beat_s is None:
        bpm = tempo_bpm(audio, sr)
        beat_s = 60.0 / bpm if bpm > 0 else 0.5
    curve, rate = novelty(audio, sr, beat_s)
    if curve.size < 3 or curve.max() <= 0:
        return np.zeros(0)
    curve = curve / curve.max()
    window = max(3, round(PEAK_WINDOW_BEATS * beat_s * rate))
    threshold = median_filter(curve, size=window, mode="nearest") + curve.mean() / 20
    peaks, _ = find_peaks(curve, distance=max(1, int(NOVELTY_MIN_GAP_BEATS * beat_s * rate)))
    peaks = peaks[curve[peaks] > threshold[peaks]]
    times: np.ndarray = _frame_times(curve.size, CHROMA_FFT, CHROMA_HOP, sr)[peaks]
    return times


def _frame_times(count: int, n_fft: int, hop: int, sr: int) -> np.ndarray:
    """(count,) the centre time (s) of each STFT frame."""
    return (np.arange(count) * hop + n_fft / 2) / sr


def tonality(audio: np.ndarray, sr: int) -> tuple[float, float]:
    """(share of loud frames whose top 1% of bins hold >= half the energy, median such share)."""
    mag, _ = _spectrogram(audio, sr, TONAL_FFT, TONAL_FFT // 2)
    power = mag**2
    energy = power.sum(axis=1)
    if energy.size == 0 or energy.max() <= 0:
        return 0.0, 0.0
    loud = energy >= np.percentile(energy, 95) * 10 ** (-LOUD_DB / 10)
    top = max(1, round(0.01 * power.shape[1]))
    share = np.sort(power[loud], axis=1)[:, -top:].sum(axis=1) / energy[loud]
    return float(np.mean(share >= 0.5)), float(np.median(share))
