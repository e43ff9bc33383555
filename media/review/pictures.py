"""The review report's pictures, drawn with matplotlib (Agg, no pyplot state) as PNG bytes.

One picture per scene, three rows on one time axis (seconds from the film's first frame):

1. thumbnails of the scene, each drawn over the stretch of time it stands for;
2. the spectrogram of the film track (a scored film's effects stem) over the scene (Hann frames
   of ``SPECTRUM_SAMPLES``, dB, the top ``DYNAMIC_RANGE_DB``), at most ``MAX_COLUMNS`` frames wide
   whatever the scene's length;
3. the motion onsets of the picture and the audio onsets of the track (``media.sync``), each
   drawn as the sum of Gaussians of width ``media.sync.SIGMA_S`` whose cosine similarity is the
   sync score: where the two curves overlap the sound lands on the picture.

PNG bytes carry no software version or date, so the same evidence gives the same bytes.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from media.review.evidence import SceneEvidence
from media.sync import SIGMA_S

SPECTRUM_SAMPLES = 1024
MAX_COLUMNS = 1600
DYNAMIC_RANGE_DB = 80.0
CURVE_POINTS = 2000
DPI = 80
FIGURE_INCHES = (11.0, 5.0)


def spectrogram_db(audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequencies Hz, frame centre times s, (freqs, frames) dB) of mono ``audio``; frames are
    hopped so that there are at most MAX_COLUMNS of them."""
    x = np.asarray(audio, dtype=np.float64)
    n = SPECTRUM_SAMPLES
    if x.shape[0] < n:
        x = np.pad(x, (0, n - x.shape[0]))
    hop = max(n // 4, -(-(x.shape[0] - n + 1) // MAX_COLUMNS))
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    window = np.hanning(n)
    power = np.square(np.abs(np.fft.rfft(frames * window, axis=1))) / np.square(window).sum()
    db = 10 * np.log10(power.T + 1e-12)
    times = (np.arange(frames.shape[0]) * hop + n / 2) / rate
    return np.fft.rfftfreq(n, 1 / rate), times, db


def onset_curve(onsets: np.ndarray, times: np.ndarray, sigma: float = SIGMA_S) -> np.ndarray:
    """Sum over ``onsets`` of Gaussians of width ``sigma``, at ``times`` (the curves the score compares)."""
    t, o = np.asarray(times, np.float64), np.asarray(onsets, np.float64)
    if o.size == 0:
        return np.zeros_like(t)
    curve: np.ndarray = np.exp(-np.square(t[:, None] - o[None, :]) / (2 * sigma * sigma)).sum(axis=1)
    return curve


def scene_picture_png(evidence: SceneEvidence, *, title: str) -> bytes:
    """The scene's picture (module docstring) as PNG bytes."""
    e = evidence
    figure = Figure(figsize=FIGURE_INCHES, dpi=DPI)  # fixed margins: a layout engine draws twice
    strip, spectrum, onsets = figure.subplots(
        3,
        1,
        sharex=True,
        height_ratios=[1.1, 1.6, 1.0],
        gridspec_kw=dict(left=0.07, right=0.985, top=0.93, bottom=0.1, hspace=0.32),
    )
    figure.suptitle(title, fontsize=11)

    span = max(e.end_s - e.start_s, 1e-6)
    step = span / max(1, len(e.thumbnail_times))
    for time, image in zip(e.thumbnail_times, e.thumbnails):
        strip.imshow(image, extent=(time, time + step, 0.0, 1.0), aspect="auto", interpolation="bilinear")
    strip.set_ylim(0.0, 1.0)
    strip.set_yticks([])
    strip.set_ylabel("picture", fontsize=9)

    freqs, times, db = spectrogram_db(e.track, e.rate)
    top = float(db.max()) if db.size else 0.0
    half = (times[1] - times[0]) / 2 if len(times) > 1 else SPECTRUM_SAMPLES / e.rate / 2
    # Each column is drawn centred on its frame's centre time.
    spectrum.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=top - DYNAMIC_RANGE_DB,
        vmax=top,
        extent=(e.start_s + times[0] - half, e.start_s + times[-1] + half, 0.0, freqs[-1] / 1000),
    )
    spectrum.set_ylabel(f"{e.track_label}\nkHz", fontsize=9)
    spectrum.set_facecolor("black")  # the last half frame, past the last spectrum column, is silence-coloured

    grid = np.linspace(0.0, span, min(CURVE_POINTS, max(2, int(span * 1000))))
    motion, sound = onset_curve(e.motion_onsets, grid), onset_curve(e.audio_onsets, grid)
    onsets.plot(e.start_s + grid, motion, color="tab:blue", label="motion onsets (picture)")
    sound_label = "track" if e.track_label == "film track" else e.track_label
    onsets.plot(e.start_s + grid, -sound, color="tab:orange", label=f"audio onsets ({sound_label})")
    onsets.axhline(0.0, color="0.6", linewidth=0.6)
    reach = 1.25 * max(1.0, float(motion.max(initial=0.0)), float(sound.max(initial=0.0)))
    onsets.set_ylim(-reach, reach)
    onsets.set_yticks([])
    onsets.set_ylabel("onsets", fontsize=9)
    onsets.set_title(
        f"agreement {e.agreement:.2f} ({e.motion_onsets.size} motion, {e.audio_onsets.size} audio onsets)",
        fontsize=9,
        loc="left",
    )
    onsets.legend(loc="upper right", fontsize=8, frameon=False, ncols=2)
    onsets.set_xlabel("seconds from the film's first frame", fontsize=9)
    onsets.set_xlim(e.start_s, e.end_s)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
