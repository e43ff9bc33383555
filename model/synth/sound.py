"""Samples of the foley world: per-class synthesis driven by the same plan as the pictures.

Onsets (impacts, footsteps, fire crackles) are time-domain impulse responses added at the exact
sample of the frame that first shows their cause. Textures (rain, wind, water, fire, crowd,
engine noise) are Gaussian noise shaped frame by frame in a short-time spectrum (Hann
window 512, hop 128: 75% overlap, so the squared windows sum to a constant), driven by the
per-picture controls that also drive the drawing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .timing import Timing
from .world import FilmPlan, ShotPlan, Source

N_FFT, HOP = 512, 128


@dataclass(frozen=True)
class SpanClock:
    """Sample positions of one shot's span: picture i of the span first shows at sample at[i]."""

    start: int  # first sample of the span in the film
    n: int  # samples in the span
    at: np.ndarray  # (pictures,) int, relative to start
    sr: int

    def per_sample(self, values: npt.NDArray[np.float64]) -> np.ndarray:
        """(n,) linear interpolation of per-picture values between the pictures' display times."""
        return np.interp(np.arange(self.n), self.at, values)

    def hit_sample(self, picture_in_span: int) -> int:
        return int(self.at[picture_in_span])


def span_clock(shot: ShotPlan, timing: Timing) -> SpanClock:
    pics = np.arange(shot.span_start, shot.span_end + 1)
    at = timing.sample_of_frame(timing.frame_of_picture(pics))
    return SpanClock(int(at[0]), int(at[-1] - at[0]), at[:-1] - at[0], timing.sample_rate)


# ----------------------------------------------------------------------------- building blocks


def _band(freqs: np.ndarray, lo: float, hi: float, edge: float = 0.15) -> np.ndarray:
    """Smooth band-pass magnitude over ``freqs``: flat in [lo, hi], raised-cosine skirts."""
    f = np.maximum(freqs, 1e-3)
    ll, lh = np.log(f / lo), np.log(f / hi)
    rise = np.clip(0.5 + ll / (2 * edge * np.log(hi / lo + 1)), 0, 1)
    fall = np.clip(0.5 - lh / (2 * edge * np.log(hi / lo + 1)), 0, 1)
    mag: np.ndarray = np.sin(0.5 * np.pi * rise) * np.sin(0.5 * np.pi * fall)
    return mag


def shaped_noise(rng: np.random.Generator, n: int, mag: np.ndarray) -> np.ndarray:
    """(n,) noise whose short-time magnitude spectrum follows ``mag`` (frames, N_FFT//2+1).

    A row with sum(mag**2) == 1 (see ``unit``) yields unit RMS around that frame. Frame f is
    centred on sample f * HOP, so a row of ``mag`` is the spectrum at that sample.
    """
    frames = n // HOP + 1
    mag = (
        mag[:frames]
        if mag.shape[0] >= frames
        else np.pad(mag, ((0, frames - mag.shape[0]), (0, 0)), mode="edge")
    )
    # complex Gaussian bins: white noise in every frame, scaled to E|X|^2 = mag^2
    spec = mag * (rng.standard_normal(mag.shape) + 1j * rng.standard_normal(mag.shape)) * np.sqrt(0.5)
    win = np.hanning(N_FFT + 1)[:-1]
    # time-domain variance of one frame is 2 sum|X|^2 / N^2; overlapped Hann^2 windows sum to 1.5
    norm = N_FFT / np.sqrt(3.0)
    blocks = np.fft.irfft(spec * norm, n=N_FFT, axis=1) * win[None, :]
    q = N_FFT // HOP
    out = np.zeros((frames + q, HOP))
    for j in range(q):
        out[j : j + frames] += blocks[:, j * HOP : (j + 1) * HOP]
    y = out.ravel()[N_FFT // 2 : N_FFT // 2 + n]  # centre frame f on sample f * HOP
    return y


def unit(spec: np.ndarray) -> np.ndarray:
    """Scale spectra (..., bins) so that each has sum of squares 1: unit RMS from shaped_noise."""
    scaled: np.ndarray = spec / np.sqrt(np.maximum((spec**2).sum(axis=-1, keepdims=True), 1e-20))
    return scaled


def _frames_of(clock: SpanClock, values: npt.NDArray[np.float64]) -> np.ndarray:
    """Per-picture values at the STFT frame centres: (frames,)."""
    pos = np.arange(clock.n // HOP + 1) * HOP
    return np.interp(pos, clock.at, values)


def _freqs(sr: int) -> np.ndarray:
    return np.fft.rfftfreq(N_FFT, 1 / sr)


def modal(
    rng: np.random.Generator,
    sr: int,
    freqs: npt.ArrayLike,
    decays: npt.ArrayLike,
    amps: npt.ArrayLike,
    length_s: float,
    click: float,
    click_lo: float,
    click_hi: float,
) -> np.ndarray:
    """Impact response: damped sinusoids (modal synthesis) plus a short contact noise burst.

    y(t) = sum_m a_m exp(-t / tau_m) sin(2 pi f_m t + phi_m) + click * burst(t); peak-normalised.
    """
    n = int(length_s * sr)
    t = np.arange(n) / sr
    freqs, decays, amps = (np.asarray(v, dtype=np.float64) for v in (freqs, decays, amps))
    ok = freqs < 0.45 * sr
    phi = rng.uniform(0, 2 * np.pi, freqs.size)
    y = (
        amps[ok, None]
        * np.exp(-t[None, :] / decays[ok, None])
        * np.sin(2 * np.pi * freqs[ok, None] * t[None, :] + phi[ok, None])
    ).sum(0)
    nb = int(0.004 * sr)
    burst = rng.standard_normal(nb) * np.exp(-np.arange(nb) / (0.0008 * sr))
    burst = _fir_band(burst, sr, click_lo, click_hi)
    y[:nb] += click * burst / (np.abs(burst).max() + 1e-9) * np.abs(y).max()
    ramp = min(n, int(0.0003 * sr))
    y[:ramp] *= np.linspace(0, 1, ramp, endpoint=False) + 1 / ramp
    tail = min(n, int(0.02 * sr))
    y[n - tail :] *= np.linspace(1, 0, tail)
    peak_normalised: np.ndarray = y / (np.abs(y).max() + 1e-12)
    return peak_normalised


def _fir_band(x: np.ndarray, sr: int, lo: float, hi: float) -> np.ndarray:
    """Band-limit a short signal through its spectrum (no delay)."""
    m = 1 << int(np.ceil(np.log2(2 * len(x))))
    X = np.fft.rfft(x, m)
    X *= _band(np.fft.rfftfreq(m, 1 / sr), lo, hi)
    return np.fft.irfft(X, m)[: len(x)]


def _add(out: np.ndarray, at: int, y: np.ndarray) -> None:
    end = min(len(out), at + len(y))
    if at < end:
        out[at:end] += y[: end - at]


# ----------------------------------------------------------------------------- discrete classes

MATERIAL_MODES = {
    # (f1 range Hz, mode ratio ranges, decay of mode 1 range s, decay exponent over ratio, click band)
    "wood": (
        (160, 420),
        ((1, 1), (2.0, 2.6), (3.4, 4.2), (5.0, 6.2), (7.0, 8.5)),
        (0.012, 0.04),
        0.5,
        (300, 4000),
    ),
    "metal": (
        (330, 1100),
        ((1, 1), (2.7, 2.8), (5.3, 5.5), (8.8, 9.1), (1.4, 12.0), (1.4, 12.0)),
        (0.2, 0.7),
        0.3,
        (1500, 12000),
    ),
    "glass": ((1700, 3400), ((1, 1), (2.2, 2.5), (3.6, 4.2), (5.5, 6.5)), (0.05, 0.16), 0.5, (3000, 16000)),
}


def _impact(src: Source, clock: SpanClock, rng: np.random.Generator, span_start: int) -> np.ndarray:
    f1r, ratios, taur, expo, (clo, chi) = MATERIAL_MODES[src.fine]
    size = src.params["h"] / 10.0  # bigger objects ring lower
    f1 = rng.uniform(*f1r) / np.sqrt(max(size, 0.4))
    if src.visual in ("pot", "bucket"):
        f1 *= 0.7
    rat = np.array([rng.uniform(a, b) for a, b in ratios])
    tau = rng.uniform(*taur) / rat**expo
    irs = []
    for _ in range(2):  # two contact points; each hit blends them so bounces differ slightly
        amps = rng.uniform(0.4, 1.0, rat.size) / rat**0.6
        ir = modal(rng, clock.sr, f1 * rat, tau, amps, min(1.5, 5 * tau.max()), 0.9, clo, chi)
        if src.visual == "door":  # the latch clicks a moment after the slam
            at = int(rng.uniform(0.015, 0.035) * clock.sr)
            m = int(0.004 * clock.sr)
            click = _fir_band(rng.standard_normal(m), clock.sr, 2000, 12000) * np.exp(-np.arange(m) / (m / 5))
            if len(ir) > at + m:
                ir[at : at + m] += 0.5 * click / (np.abs(click).max() + 1e-9)
        if src.fine == "wood" and src.visual in ("crate", "box", "block", "door"):  # the body's low thump
            thump = modal(rng, clock.sr, [rng.uniform(70, 130)], [0.025], [1.0], 0.15, 0.0, 50, 200)
            m = min(len(ir), len(thump))
            ir[:m] += 0.5 * thump[:m]
        irs.append(ir / np.abs(ir).max())
    out = np.zeros(clock.n)
    for hit in src.hits:
        w = rng.uniform()
        _add(out, clock.hit_sample(hit.picture - span_start), hit.strength * (w * irs[0] + (1 - w) * irs[1]))
    return out


def footstep(rng: np.random.Generator, sr: int, surface: str, shoe: str) -> np.ndarray:
    """One footfall on ``surface``: heel strike at sample 0, a softer toe 40-70 ms later."""
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    toe = int(rng.uniform(0.04, 0.07) * sr)
    for at, amp in ((0, 1.0), (toe, rng.uniform(0.3, 0.55))):
        m = n - at
        tt = t[:m]
        if surface == "gravel":  # a crunch: dense random grains under a fast decay
            grains = (rng.random(m) < 0.25) * rng.standard_normal(m)
            part = _fir_band(grains, sr, 900, 7000) * np.exp(-tt / 0.035)
        elif surface == "grass":  # a soft swish with a short attack
            part = (
                _fir_band(rng.standard_normal(m), sr, 200, 2500)
                * np.exp(-tt / 0.045)
                * np.minimum(1, tt / 0.004 + 0.05)
            )
        elif surface == "wood":  # a hollow knock
            f = rng.uniform(110, 220)
            part = modal(
                rng, sr, [f, f * 2.4, f * 3.9], [0.05, 0.03, 0.02], [1, 0.6, 0.35], m / sr, 0.4, 400, 5000
            )
        else:  # concrete: a hard click and a little thump
            bright = 1.6 if shoe == "heels" else 1.0
            part = _fir_band(rng.standard_normal(m), sr, 1200, 9000 * bright) * np.exp(-tt / (0.006 / bright))
            part = part / (np.abs(part).max() + 1e-9) + 0.4 * modal(
                rng, sr, [rng.uniform(70, 110)], [0.015], [1], m / sr, 0.0, 50, 200
            )
        part = part / (np.abs(part).max() + 1e-9)
        ramp = int(0.0003 * sr)
        part[:ramp] *= np.linspace(0, 1, ramp, endpoint=False) + 1 / ramp
        y[at:] += amp * part
    peak_normalised: np.ndarray = y / np.abs(y).max()
    return peak_normalised


def _footsteps(src: Source, clock: SpanClock, rng: np.random.Generator, span_start: int) -> np.ndarray:
    out = np.zeros(clock.n)
    for hit in src.hits:
        _add(
            out,
            clock.hit_sample(hit.picture - span_start),
            hit.strength * footstep(rng, clock.sr, src.fine, src.params["shoe"]),
        )
    return out


# ----------------------------------------------------------------------------- textures


def _rain(src: Source, clock: SpanClock, rng: np.random.Generator, span_start: int) -> np.ndarray:
    assert src.control is not None  # every texture source has a per-picture control
    f = _freqs(clock.sr)
    lvl = _frames_of(clock, src.control)
    spec = unit(unit(_band(f, 700, 11000)) + 0.35 * unit(_band(f, 150, 900)))
    hiss = shaped_noise(rng, clock.n, lvl[:, None] * spec[None, :])
    # individual drops: tiny pings at random times, their rate following the visible density
    rate = 300 * clock.per_sample(src.control) / clock.sr
    drops = np.flatnonzero(rng.random(clock.n) < rate)
    ping = np.sin(2 * np.pi * rng.uniform(2500, 4500) * np.arange(int(0.004 * clock.sr)) / clock.sr) * np.exp(
        -np.arange(int(0.004 * clock.sr)) / (0.001 * clock.sr)
    )
    out = 0.12 * hiss
    amps = rng.uniform(0.02, 0.12, drops.size)
    for k in range(0, len(ping)):
        idx = drops + k
        ok = idx < clock.n
        out[idx[ok]] += amps[ok] * ping[k]
    return out


def _wind(src: Source, clock: SpanClock, rng: np.random.Generator, span_start: int) -> np.ndarray:
    assert src.control is not None  # every texture source has a per-picture control
    f = _freqs(clock.sr)
    a = _frames_of(clock, src.control)[:, None]
    centre = 250 + 500 * a  # gusts are louder and brighter
    body = unit(np.exp(-0.5 * (np.log(np.maximum(f, 20)[None, :] / centre) / 0.6) ** 2))
    mag = (0.25 + 0.75 * a) * body + 0.3 * unit(_band(f, 40, 200))[None, :] * a
    if src.fine == "trees" or src.fine == "grass":
        mag = mag + (0.5 if src.fine == "trees" else 0.3) * a**1.5 * unit(_band(f, 1500, 7000))[None, :]
    y = shaped_noise(rng, clock.n, mag)
    if src.fine == "flag":  # the cloth snaps at its flapping rate
        e = src.params["elements"]
        tau = np.arange(clock.n) / clock.sr
        flap = (
            1
            + 0.7
            * clock.per_sample(src.control)
            * np.maximum(0, np.sin(2 * np.pi * e["freq"][0] * tau + e["phase"][0])) ** 4
        )
        y = y * flap
    return 0.14 * y


def engine_pitch(src: Source) -> np.ndarray:
    """(span pictures,) engine fundamental in Hz: rises and falls with the drawn speed."""
    hz: np.ndarray = src.params["base_hz"] * (0.55 + 0.6 * src.state["speed"] / src.params["v_ref"])
    return hz


def _engine(src: Source, clock: SpanClock, rng: np.random.Generator, span_start: int) -> np.ndarray:
    assert src.control is not None  # every texture source has a per-picture control
    f0 = clock.per_sample(engine_pitch(src))
    phase = 2 * np.pi * np.cumsum(f0) / clock.sr + rng.uniform(0, 2 * np.pi)
    tilt = 0.6 if src.fine == "motorcycle" else 0.95
    y = np.zeros(clock.n)
    for h in range(1, 13):
        y += (1.3 if h % 2 else 1.0) / h**tilt * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    y /= np.sqrt((y**2).mean()) + 1e-9
    f = _freqs(clock.sr)
    rough = shaped_noise(
        rng,
        clock.n,
        np.broadcast_to(
            unit(_band(f, 80, 2500 if src.fine != "truck" else 1200)), (clock.n // HOP + 1, f.size)
        ),
    )
    y = y * (1 + 0.25 * np.cos(phase / 2)) + 0.35 * rough * (0.6 + 0.4 * np.maximum(np.cos(phase), 0))
    out: np.ndarray = 0.12 * y * clock.per_sample(src.control)
    return out


def _water(src: Source, clock: SpanClock, rng: np.random.Generator, span_start: int) -> np.ndarray:
    assert src.control is not None  # every texture source has a per-picture control
    f = _freqs(clock.sr)
    lvl = _frames_of(clock, src.control)
    if src.fine == "waves":  # each crest reaching the near edge is a swell of wash
        ph = _frames_of(clock, src.state["phase"])
        swell = lvl * (0.3 + 0.7 * np.maximum(0, np.cos(ph)) ** 2)
        mag = (
            swell[:, None] * unit(_band(f, 60, 1400))[None, :]
            + 0.4 * (swell**2)[:, None] * unit(_band(f, 1500, 8000))[None, :]
        )
        return 0.16 * shaped_noise(rng, clock.n, mag)
    mag = lvl[:, None] * (unit(_band(f, 250, 4500))[None, :] * (0.8 + 0.2 * rng.random((lvl.size, 1))))
    y = 0.1 * shaped_noise(rng, clock.n, mag)
    # bubbles: short rising chirps
    for at in np.flatnonzero(rng.random(clock.n) < 12 / clock.sr):
        m = int(rng.uniform(0.01, 0.03) * clock.sr)
        tt = np.arange(m) / clock.sr
        fb = rng.uniform(400, 1200)
        _add(y, int(at), 0.05 * np.sin(2 * np.pi * fb * tt * (1 + 8 * tt)) * np.exp(-tt / (m / clock.sr / 3)))
    return y


def _fire(src: Source, clock: SpanClock, rng: np.random.Generator, span_start: int) -> np.ndarray:
    assert src.control is not None  # every texture source has a per-picture control
    f = _freqs(clock.sr)
    lvl = _frames_of(clock, src.control)
    mag = (
        lvl[:, None] * unit(_band(f, 30, 350))[None, :]
        + 0.15 * lvl[:, None] * unit(_band(f, 2000, 7000))[None, :]
    )
    y = 0.12 * shaped_noise(rng, clock.n, mag)
    for hit in src.hits:  # a crackle on the picture where a spark first shows
        m = int(rng.uniform(0.002, 0.006) * clock.sr)
        c = _fir_band(rng.standard_normal(m), clock.sr, 1000, 12000) * np.exp(-np.arange(m) / (m / 4))
        _add(y, clock.hit_sample(hit.picture - span_start), 0.5 * hit.strength * c / (np.abs(c).max() + 1e-9))
    return y


def _crowd(src: Source, clock: SpanClock, rng: np.random.Generator, span_start: int) -> np.ndarray:
    """A murmur: many band-limited noise 'voices', each gated at a syllable-like rate (no speech)."""
    assert src.control is not None  # every texture source has a per-picture control
    f = _freqs(clock.sr)
    frames = clock.n // HOP + 1
    k = 14
    centres = rng.uniform(250, 2200, k)
    bands = unit(
        np.exp(-0.5 * (np.log(np.maximum(f, 20)[None, :] / centres[:, None]) / 0.35) ** 2)
    ) / np.sqrt(k * 0.6)
    fr_s = HOP / clock.sr
    gates = np.empty((frames, k))
    for i in range(k):
        rate = rng.uniform(2.5, 5.5)
        on = rng.random(int(frames * fr_s * rate) + 2) < 0.6
        g = on[(np.arange(frames) * fr_s * rate).astype(int)].astype(float)
        ker = np.hanning(max(3, int(0.06 / fr_s)))
        gates[:, i] = np.convolve(g, ker / ker.sum(), mode="same")
    lvl = np.sqrt(_frames_of(clock, src.control))[:, None]
    mag = lvl * (gates @ bands + 0.15 * unit(_band(f, 150, 3000))[None, :])
    return 0.15 * shaped_noise(rng, clock.n, mag)


SYNTHS = {
    "impact": _impact,
    "footsteps": _footsteps,
    "rain": _rain,
    "wind": _wind,
    "engine": _engine,
    "water": _water,
    "fire": _fire,
    "crowd": _crowd,
}


def shot_envelope(shot: ShotPlan, clock: SpanClock, hard_out: bool) -> np.ndarray:
    """(n,) the shot's picture weights as an audio gain: fades follow the picture."""
    g = clock.per_sample(shot.gain)
    ramp = min(clock.n, int(0.002 * clock.sr))
    if hard_out:  # end cleanly on the cut without moving any onset
        g[clock.n - ramp :] *= np.linspace(1, 0, ramp)
    else:
        tail = clock.n - clock.at[-1]
        g[clock.at[-1] :] *= np.linspace(1, 0, tail)
    return g


def render_audio(plan: FilmPlan) -> np.ndarray:
    """(samples,) float64 mix of every shot's sources, before normalisation."""
    timing = plan.timing
    out = np.zeros(timing.samples)
    for k, shot in enumerate(plan.shots):
        clock = span_clock(shot, timing)
        hard_out = k == len(plan.shots) - 1 or plan.transitions[k].kind == "hard"
        env = shot_envelope(shot, clock, hard_out)
        for src in shot.sources:
            rng = np.random.default_rng([src.seed, 1])
            y = SYNTHS[src.cls](src, clock, rng, shot.span_start)
            out[clock.start : clock.start + clock.n] += src.gain * y * env
    return out
