"""What a restore run's film track holds: its band, and whether its events are sounds or clicks.

    python -m bench.film_track [--input VIDEO] [--prompt "heavy rain on a tin roof, glass shattering"]
        [--vocoder auto|vocos|griffin-lim ...] [--keep DIR]

For each ``--vocoder`` it runs the restore job (``pipelines.restore``, the shipped checkpoint,
one take, no score) on ``--input`` (default: the real clip trucks_and_soldiers_4shots.mp4 from
../shared/testdata/real) with ``--prompt`` as the positive prompt, then reads the film's track
(``films/<film_id>/<cut_key>.flac``, 48 kHz, after loudness and the -1 dBTP true-peak limiter)
and the generated stems (``audio/``, before any limiting), and prints:
- >8k: the share of the track's energy above 8 kHz; f99: the frequency below which 99% lies;
- onsets: the track's onsets (``model.metrics.detect_onsets``);
- crest: the median crest factor (peak over RMS, dB) of the 50 ms after each onset; a click (an
  impulse a few samples long) has a high crest, a struck sound a moderate one;
- at ceiling: the share of onsets whose 50 ms peak lies within 0.1 dB of the track's limiter
  ceiling (-1 dBFS sample peak);
- width: the median number of samples after each onset within 6 dB of that onset's peak.

Then the same crest and width for real struck sounds, as a reference: the sound bank's held-out
recordings of event classes (``REFERENCE_CLASSES``, peak-normalised to -6 dBFS), as recorded and
after a round trip through the model's log-mel and each vocoder (``--skip-reference``: not).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from model.metrics import detect_onsets

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "testdata" / "real"
RATE = 48000
AFTER_S = 0.050
REFERENCE_CLASSES = ("footsteps", "glass", "door", "knock", "wood", "metal", "gunshot", "explosion")
CEILING_DB = -1.0


def spectrum_figures(x: np.ndarray) -> tuple[float, float]:
    """(share of energy above 8 kHz, frequency in Hz below which 99% of the energy lies)."""
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    total = max(power.sum(), 1e-20)
    cumulative = np.cumsum(power) / total
    return float(power[freqs > 8000].sum() / total), float(freqs[np.searchsorted(cumulative, 0.99)])


def onset_figures(x: np.ndarray) -> dict[str, float]:
    onsets = detect_onsets(x, RATE)
    n = round(AFTER_S * RATE)
    crests, widths, at_ceiling = [], [], 0
    ceiling = 10 ** (CEILING_DB / 20)
    for t in onsets:
        seg = x[round(t * RATE) : round(t * RATE) + n]
        if len(seg) < n // 2:
            continue
        peak = float(np.abs(seg).max())
        rms = float(np.sqrt(np.mean(seg**2)))
        if rms <= 0:
            continue
        crests.append(20 * np.log10(peak / rms))
        widths.append(int(np.sum(np.abs(seg) >= peak / 2)))
        at_ceiling += peak >= ceiling * 10 ** (-0.1 / 20)
    count = len(crests)
    return {
        "onsets": float(len(onsets)),
        "crest_db": float(np.median(crests)) if crests else float("nan"),
        "at_ceiling": at_ceiling / count if count else float("nan"),
        "width": float(np.median(widths)) if widths else float("nan"),
    }


def restore(video: str, prompt: str, vocoder: str, output: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    import soundfile as sf

    from pipelines.restore import run

    manifest = output / "manifest.jsonl"
    manifest.write_text(json.dumps({"video_input": video, "positive_prompt": prompt}) + "\n")
    run(
        [
            f"--input={manifest}",
            f"--output={output / 'out'}",
            "--takes=1",
            "--score=off",
            f"--vocoder={vocoder}",
            "--runner=DirectRunner",
            "--direct_num_workers=1",
        ]
    )
    films = [p for p in (output / "out" / "films").glob("*/*.flac") if p.name.count(".") == 1]
    if len(films) != 1:
        raise SystemExit(f"the restore run wrote {len(films)} film tracks, expected 1")
    track, rate = sf.read(str(films[0]), dtype="float64")
    assert rate == RATE
    stems = [sf.read(str(p), dtype="float64")[0] for p in sorted((output / "out" / "audio").glob("*/*.flac"))]
    return track, stems


def reference_figures(vocoders: list[str]) -> None:
    """Crest and width of real struck sounds (module docstring), as recorded and round-tripped."""
    import soundfile as sf
    import torch

    from media.resample import resample
    from model.config import AudioConfig
    from model.mel import MelSpectrogram
    from model.sounds.bank import recordings
    from model.vocoders import build_vocoder

    audio = AudioConfig()
    mel = MelSpectrogram(audio)
    built = {name: build_vocoder(name, audio) for name in vocoders}
    found: dict[str, list[tuple[float, float]]] = {"recorded": [], **{name: [] for name in vocoders}}
    heldout = [r for r in recordings(split="heldout") if r.cls in REFERENCE_CLASSES]
    for r in heldout:
        x, rate = sf.read(str(r.file), dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        x = 0.5 * x / max(float(np.abs(x).max()), 1e-9)
        outputs = {"recorded": resample(x, rate, RATE)}
        log_mel = mel(torch.from_numpy(resample(x, rate, audio.sample_rate))[None])
        for name, vocoder in built.items():
            outputs[name] = resample(vocoder(log_mel)[0].numpy(), vocoder.sample_rate, RATE)
        for name, y in outputs.items():
            o = onset_figures(y)
            if o["onsets"]:
                found[name].append((o["crest_db"], o["width"]))
    print(f"\nreference: {len(heldout)} held-out recordings of {', '.join(REFERENCE_CLASSES)}")
    for name, figures in found.items():
        if figures:
            crest, width = np.nanmedian(np.array(figures), axis=0)
            print(f"{name:<12} {len(figures):>3} with onsets  crest {crest:5.1f} dB  width {width:4.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.film_track", description=__doc__.split("\n")[0])
    parser.add_argument("--input", default=str(REAL / "trucks_and_soldiers_4shots.mp4"))
    parser.add_argument("--prompt", default="heavy rain on a tin roof, glass shattering")
    parser.add_argument("--vocoder", nargs="+", default=["griffin-lim", "vocos"])
    parser.add_argument("--keep", default=None, help="keep the restore outputs under this folder")
    parser.add_argument("--skip-reference", action="store_true", help="no real-recording reference")
    args = parser.parse_args(argv)
    if not Path(args.input).exists() and "://" not in args.input:
        raise SystemExit(f"{args.input} does not exist")
    print(f"film {args.input}\nprompt {args.prompt!r}")
    header = (
        f"{'vocoder':<12} {'part':<6} {'>8k':>7} {'f99 Hz':>7} {'onsets':>7} {'crest dB':>9} "
        f"{'at ceiling':>11} {'width':>6}"
    )
    print(header)
    print("-" * len(header))
    for vocoder in args.vocoder:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(args.keep) / vocoder if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            track, stems = restore(args.input, args.prompt, vocoder, folder)
        for part, x in [("track", track), ("stems", np.concatenate(stems) if stems else np.zeros(1))]:
            high, f99 = spectrum_figures(x)
            o = onset_figures(x)
            print(
                f"{vocoder:<12} {part:<6} {high:>7.2%} {f99:>7.0f} {o['onsets']:>7.0f} {o['crest_db']:>9.1f} "
                f"{o['at_ceiling']:>11.1%} {o['width']:>6.0f}",
                flush=True,
            )
    if not args.skip_reference:
        reference_figures(args.vocoder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
