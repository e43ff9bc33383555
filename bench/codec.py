"""How good is the codec? The trained Vocos against Griffin-Lim on held-out sound, in one run.

    python -m bench.codec [--vocos model/weights/vocos.safetensors] [--renders 8] [--seconds 4]
        [--threads 2] [--max-recordings 0]

Every clip at 48 kHz is turned into the model's log-mel (16 kHz, 64 mels to 8 kHz) and back by
each vocoder: the round trip a generated log-mel takes, with the model's error left out. Clips:
- the sound bank's held-out recordings (``model.sounds``, split "heldout"; never trained on),
- foley-world renders from seeds ``HELDOUT_RENDER_SEEDS`` (the vocoder trained on others),
each cut to ``--seconds`` from its start.

Vocoders: ``vocos`` (the trained one), ``griffin-lim`` (the weight-free default before it: with
the log-mel smoothing) and ``griffin-lim-plain`` (without). Every output and the original are
compared at 24 kHz (Griffin-Lim's 16 kHz output is resampled up; it has no band above 8 kHz):
- log-mel L1: mean |difference| of 128-mel natural-log spectra to 12 kHz (n_fft 2048, hop 240),
  and the same over the mels below 8 kHz only (``l1<8k``: inversion alone, no band extension);
- MR-STFT: spectral convergence + log-magnitude L1 averaged over n_fft 512, 1024, 2048;
- >8k: share of energy above 8 kHz, output against the original's (``orig``);
- onset F1 at +-50 ms of the output's onsets against the original's (``model.metrics``),
  micro-averaged over a group's clips (the original's own F1 is 1.0 by definition); and on the
  renders, whose event times are known, the output's F1 against the true events over the
  original's (``truth``; what bench/quality.py's codec round-trip row measures);
- pre-echo: energy in the 20 ms before each of the original's onsets, output over original, in dB
  (positive: the vocoder smears the attack backwards);
- speed: audio seconds per wall second on this machine's ``--threads`` CPU threads.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from media.resample import resample
from model.config import AudioConfig
from model.mel import MelSpectrogram, mel_filterbank
from model.metrics import OnsetCounts, detect_onsets, match_onsets
from model.vocoders import Vocoder
from model.vocoders.griffin_lim import GriffinLim, smoothed_griffin_lim
from model.vocoders.vocos import DEFAULT_VOCODER, VocosVocoder, load_vocos

SOURCE_RATE = 48000
RATE = 24000  # where every output is compared
HELDOUT_RENDER_SEEDS = range(5900, 5950)  # train_vocos.RENDER_SEEDS is 5100-5139
PRE_ECHO_S = 0.020


@dataclass
class Clip:
    name: str
    group: str  # "real" or "foley"
    audio_48k: np.ndarray
    events: np.ndarray | None = None  # a render's true event times (s); None for a recording


def heldout_clips(renders: int, seconds: float, max_recordings: int) -> list[Clip]:
    import soundfile as sf

    from model.sounds.bank import recordings
    from model.synth.film import make_film

    clips = []
    heldout = recordings(split="heldout")
    if max_recordings:
        heldout = heldout[:max_recordings]
    for r in heldout:
        x, rate = sf.read(str(r.file), dtype="float32", always_2d=True)
        assert rate == SOURCE_RATE, f"{r.file}: {rate} Hz"
        clips.append(Clip(f"{r.cls}/{r.path}", "real", x.mean(axis=1)[: round(seconds * SOURCE_RATE)]))
    for seed in HELDOUT_RENDER_SEEDS[:renders]:
        film = make_film(seed)
        events = np.array([e["time_s"] for e in film.truth["events"] if e["time_s"] < seconds])
        clips.append(Clip(f"foley/{seed}", "foley", film.audio[: round(seconds * SOURCE_RATE)], events))
    return clips


class Measures:
    """The comparisons of the module docstring, at ``RATE``."""

    def __init__(self) -> None:
        self.mel_bank = mel_filterbank(RATE, 2048, 128, 0.0, RATE / 2).numpy()
        centres = np.linspace(0, RATE / 2, 1025)
        self.low_mels = self.mel_bank[:, centres > 8000].sum(axis=1) == 0  # mels wholly below 8 kHz

    @staticmethod
    def magnitude(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
        spec = torch.stft(
            torch.from_numpy(x.astype(np.float32)),
            n_fft,
            hop,
            n_fft,
            torch.hann_window(n_fft),
            return_complex=True,
        )
        return spec.abs().numpy()

    def log_mel(self, x: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(self.mel_bank @ self.magnitude(x, 2048, 240), 1e-5))

    def mel_l1(self, y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
        d = np.abs(self.log_mel(y) - self.log_mel(x))
        return float(d.mean()), float(d[self.low_mels].mean())

    def mr_stft(self, y: np.ndarray, x: np.ndarray) -> float:
        total = 0.0
        for n_fft in (512, 1024, 2048):
            a, b = self.magnitude(y, n_fft, n_fft // 4), self.magnitude(x, n_fft, n_fft // 4)
            convergence = np.linalg.norm(b - a) / (np.linalg.norm(b) + 1e-7)
            total += convergence + np.abs(np.log(a + 1e-5) - np.log(b + 1e-5)).mean()
        return total / 3

    @staticmethod
    def high_share(x: np.ndarray) -> float:
        power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / RATE)
        return float(power[freqs > 8000].sum() / max(power.sum(), 1e-20))

    @staticmethod
    def pre_echo_db(y: np.ndarray, x: np.ndarray, onsets: np.ndarray) -> list[float]:
        n = round(PRE_ECHO_S * RATE)
        out = []
        for t in onsets:
            end = round(t * RATE)
            if end - n < 0:
                continue
            ey, ex = float(np.sum(y[end - n : end] ** 2)), float(np.sum(x[end - n : end] ** 2))
            if ex > 1e-10:
                out.append(10 * np.log10((ey + 1e-12) / ex))
        return out


def truth_counts(clips: list[Clip], audio: dict[str, np.ndarray]) -> OnsetCounts:
    """Onsets of ``audio`` (at ``RATE``) against the true events of the clips that have them."""
    total = OnsetCounts()
    for c in clips:
        if c.events is not None:
            total = total + match_onsets(detect_onsets(audio[c.name], RATE), c.events, 0.05)
    return total


def vocoders(path: str, audio: AudioConfig) -> dict[str, Vocoder]:
    return {
        "vocos": VocosVocoder(load_vocos(path)[0]),
        "griffin-lim": smoothed_griffin_lim(audio),
        "griffin-lim-plain": GriffinLim(audio),
    }


def run(clips: list[Clip], path: str) -> None:
    audio = AudioConfig()
    mel = MelSpectrogram(audio)
    measures = Measures()
    originals = {c.name: resample(c.audio_48k, SOURCE_RATE, RATE) for c in clips}
    log_mels = {
        c.name: mel(torch.from_numpy(resample(c.audio_48k, SOURCE_RATE, audio.sample_rate))[None])
        for c in clips
    }
    onsets = {name: detect_onsets(x, RATE) for name, x in originals.items()}
    truth_f1 = {"original": truth_counts(clips, originals)}
    print(
        f"{len(clips)} clips: {sum(c.group == 'real' for c in clips)} held-out recordings, "
        f"{sum(c.group == 'foley' for c in clips)} held-out foley renders; compared at {RATE} Hz"
    )
    rows: list[tuple[str, dict[str, dict[str, list[float]]], dict[str, OnsetCounts], float]] = []
    for name, vocoder in vocoders(path, audio).items():
        per_group: dict[str, dict[str, list[float]]] = {}
        counts: dict[str, OnsetCounts] = {}
        wall = seconds = 0.0
        outputs: dict[str, np.ndarray] = {}
        for c in clips:
            x = originals[c.name]
            t0 = time.perf_counter()
            y = vocoder(log_mels[c.name])[0].numpy()
            wall += time.perf_counter() - t0
            seconds += len(c.audio_48k) / SOURCE_RATE
            y = resample(y, vocoder.sample_rate, RATE, length=len(x))
            outputs[c.name] = y
            g = per_group.setdefault(c.group, {k: [] for k in ("l1", "l1low", "mr", "high", "orig", "pre")})
            l1, l1low = measures.mel_l1(y, x)
            g["l1"].append(l1)
            g["l1low"].append(l1low)
            g["mr"].append(measures.mr_stft(y, x))
            g["high"].append(measures.high_share(y))
            g["orig"].append(measures.high_share(x))
            g["pre"].extend(measures.pre_echo_db(y, x, onsets[c.name]))
            found = match_onsets(detect_onsets(y, RATE), onsets[c.name], 0.05)
            counts[c.group] = counts.get(c.group, OnsetCounts()) + found
        rows.append((name, per_group, counts, seconds / wall))
        truth_f1[name] = truth_counts(clips, outputs)
    header = (
        f"{'vocoder':<18} {'clips':<6} {'log-mel L1':>10} {'l1<8k':>7} {'MR-STFT':>8} {'>8k':>7} {'orig':>7} "
        f"{'onset F1':>9} {'pre-echo dB':>12} {'x realtime':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, groups, group_counts, speed in rows:
        for group, g in sorted(groups.items()):
            pre = float(np.median(g["pre"])) if g["pre"] else float("nan")
            print(
                f"{name:<18} {group:<6} {np.mean(g['l1']):>10.3f} {np.mean(g['l1low']):>7.3f} "
                f"{np.mean(g['mr']):>8.3f} {np.mean(g['high']):>7.3%} {np.mean(g['orig']):>7.3%} "
                f"{group_counts[group].f1:>9.3f} {pre:>12.1f} {speed:>11.1f}"
            )
    original = truth_f1.pop("original")
    for name, found in truth_f1.items():
        print(
            f"{name} on foley against the true events: onset F1 {found.f1:.3f}, the original's "
            f"{original.f1:.3f} (x{found.f1 / max(original.f1, 1e-9):.3f})"
        )
    base = {group: g for name, groups, _, _ in rows if name == "griffin-lim" for group, g in groups.items()}
    for name, groups, _, _ in rows:
        if name == "griffin-lim":
            continue
        for group, g in sorted(groups.items()):
            l1_gain = 1 - float(np.mean(g["l1"]) / np.mean(base[group]["l1"]))
            mr_gain = 1 - float(np.mean(g["mr"]) / np.mean(base[group]["mr"]))
            print(
                f"{name} against griffin-lim on {group}: log-mel L1 {l1_gain:+.1%} lower, "
                f"MR-STFT {mr_gain:+.1%} lower"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.codec", description=__doc__.split("\n")[0])
    parser.add_argument("--vocos", default=str(DEFAULT_VOCODER))
    parser.add_argument("--renders", type=int, default=8, help="held-out foley-world films")
    parser.add_argument("--seconds", type=float, default=4.0, help="the first seconds of each clip")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-recordings", type=int, default=0, help="0: every held-out recording")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run(heldout_clips(args.renders, args.seconds, args.max_recordings), args.vocos)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
