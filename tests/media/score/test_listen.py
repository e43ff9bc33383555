"""media.score.listen on signals whose answer is known: it must tell a tempo, a key and mode, a
change of texture and a tone from noise, and be able to say no."""

from __future__ import annotations

import numpy as np

from media.score import listen

SR = 48000


def tone(freqs: list[float], seconds: float, amp: float = 0.2, decay: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    envelope = np.exp(-decay * t)
    return (amp * envelope * sum(np.sin(2 * np.pi * f * t) for f in freqs)).astype(np.float32)


def midi(p: int) -> float:
    return 440.0 * 2 ** ((p - 69) / 12)


def pulses(bpm: float, seconds: float, pitches: list[int]) -> np.ndarray:
    """Equal decaying chords on every beat."""
    out = np.zeros(int(seconds * SR), np.float32)
    beat = 60 / bpm
    for start in np.arange(0, seconds - beat, beat):
        chord = tone([midi(p) for p in pitches], beat, amp=0.15, decay=6)
        at = int(start * SR)
        out[at : at + chord.size] += chord[: out.size - at]
    return out


def test_tempo_of_a_pulse_train() -> None:
    for bpm in (60.0, 96.0, 132.0, 160.0):
        measured = listen.tempo_bpm(pulses(bpm, 20, [60, 64, 67]), SR)
        assert abs(measured / bpm - 1) < 0.03, (bpm, measured)
    assert listen.tempo_bpm(np.zeros(SR * 5, np.float32), SR) == 0.0


def progression(chords: list[list[int]], seconds_each: float = 1.0) -> np.ndarray:
    return np.concatenate([tone([midi(p) for p in c], seconds_each) for c in chords])


def test_key_and_mode_of_cadences() -> None:
    c_major = progression([[48, 60, 64, 67], [53, 65, 69, 72], [55, 67, 71, 74], [48, 60, 64, 67]] * 3)
    a_minor = progression([[45, 57, 60, 64], [50, 62, 65, 69], [52, 64, 68, 71], [45, 57, 60, 64]] * 3)
    assert listen.estimate_key(c_major, SR)[0] == "C major"
    assert listen.estimate_key(a_minor, SR)[0] == "A minor"


def test_a_change_of_texture_is_the_strongest_change_point() -> None:
    beat = 0.5
    changed = np.concatenate([pulses(120, 10, [48, 55, 64]), pulses(120, 10, [74, 79, 83, 86])])
    points = listen.change_points(changed, SR, beat)
    assert np.any(np.abs(points - 10.0) <= beat)
    curve, rate = listen.novelty(changed, SR, beat)
    assert abs(np.argmax(curve) / rate + listen.CHROMA_FFT / 2 / SR - 10.0) <= beat
    assert curve.max() > 4 * np.median(curve)


def test_tonality_tells_tones_from_noise() -> None:
    frames, share = listen.tonality(tone([220.0, 330.0, 440.0], 3), SR)
    assert frames == 1.0 and share > 0.9
    noise = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * 0.1
    frames, share = listen.tonality(noise, SR)
    assert frames == 0.0 and share < 0.1
