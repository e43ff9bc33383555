"""Does the shipped model make synchronized, prompt-following sound? One table, measured here.

    python -m bench.quality [--checkpoint model/weights/tiny.safetensors] [--scenes 16]
        [--seed 880000] [--judge-films 480] [--steps 20] [--damage 1 0.5] [--threads 2]

A held-out foley world (collection seed ``--seed``; the shipped checkpoint was trained on
seed 7000, the judge trains on ``--seed + 1``): single-shot 4 s films, one model window each,
rendered clean and, for the event scenes, again with archival damage at each ``--damage``
strength (the same world: ``model.synth`` draws damage from its own stream): 1, the foley world's
heaviest, and 0.5, which is above all four real archival clips' noise floor at the model's input
(``bench/damage_levels.py``). Frames go through the MP4 and
``media.decode.decode_range`` exactly as the pipeline reads them.

Rows, all in the same run on the same scenes:
- ground truth: the foley world's own audio at the model rate;
- codec round trip: ground truth -> log-mel -> the generator's vocoder (the ceiling any model reaches);
- trained: the checkpoint, caption as positive prompt, the checkpoint's default negative prompt
  (none for the shipped one);
- video dropped: the same with the learned null video (what the picture adds to timing);
- untrained: the same architecture from random weights (the floor).

Columns: onset F1 at +-50 and +-100 ms (``model.metrics``) on impact and footstep scenes, per
class and overall, and on mixed scenes (the discrete source's events only); the judge's
(``model.judge``, trained on ground-truth audio only) top-1 fine-class accuracy (impact material,
footstep surface) and coarse-class accuracy on single-source scenes. Then negative prompts on
mixed scenes (the continuous source's class name as the negative prompt: its judge probability
with and without, and the discrete source's onset F1 with and without), and robustness (the
trained model's onset F1 on damaged renders over clean ones). A line beside the table gives each
row's log-mel grain (``grain``: how much the spectrum changes from one mel frame to the next),
the residue a sampler leaves when its network does not denoise the last steps.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from media.resample import resample
from model import judge as judging
from model.calibrate import model_frames, threshold_sweep
from model.conditioning import TextEncoder
from model.generate import Generator, load_generator
from model.mel import MelSpectrogram
from model.metrics import OnsetCounts, detect_onsets, match_onsets
from model.synth import SynthConfig, make_film
from model.synth.encode import encode_mp4
from model.synth.film import film_seed
from model.synth.world import MIXES
from model.vocoders import VOCODER_CHOICES, build_vocoder

DISCRETE = ("impact", "footsteps")
CONTINUOUS = ("rain", "wind", "engine", "water", "fire", "crowd")
EVENT_MIXES = tuple(m for m in MIXES if m[0] in DISCRETE and m[1] in CONTINUOUS)
SCENE_S = 4.0
FILM_RATE = 48000


@dataclass
class Scene:
    kind: str  # "impact", "footsteps", a continuous class, or "mix"
    classes: tuple[str, ...]
    caption: str
    sources: list[tuple[str, str]]  # (class, fine) of every source
    events: list[float]  # seconds, the discrete source's events
    truth_audio: np.ndarray  # (window_samples,) at the model rate
    frames: np.ndarray  # (video_frames, H, W) uint8, clean render
    video: str = ""  # the clean render's MP4
    damaged: dict[float, np.ndarray] = field(default_factory=dict)  # damage strength -> frames (event scenes)


def model_rate_audio(film_audio: np.ndarray, rate: int, samples: int) -> np.ndarray:
    audio = resample(film_audio, FILM_RATE, rate)
    out = np.zeros(samples, np.float32)
    out[: min(samples, audio.size)] = audio[:samples]
    return out


def synth_config(classes: tuple[str, ...], damage: float, *, small: bool = False) -> SynthConfig:
    return SynthConfig.single_shot(classes, SCENE_S, damage, **({"width": 64, "height": 48} if small else {}))


def scene_plan(per_class: int) -> list[tuple[str, tuple[str, ...]]]:
    plan: list[tuple[str, tuple[str, ...]]] = [(c, (c,)) for c in DISCRETE for _ in range(per_class)]
    plan += [(c, (c,)) for c in CONTINUOUS for _ in range(max(2, per_class // 4))]
    plan += [("mix", EVENT_MIXES[i % len(EVENT_MIXES)]) for i in range(per_class)]
    return plan


def make_scenes(
    per_class: int, seed: int, config, folder: Path, damage: Sequence[float] = (1.0,)
) -> list[Scene]:
    scenes = []
    for index, (kind, classes) in enumerate(scene_plan(per_class)):
        fseed = film_seed(seed, index)
        film = make_film(fseed, synth_config(classes, 0.0), name=f"heldout_{index:03d}")
        shot = film.truth["shots"][0]
        sources = [(s["class"], s["fine"]) for s in shot["sources"]]
        events = [float(e["time_s"]) for e in film.truth["events"] if e["class"] in DISCRETE]
        frames, video = model_frames(film, config, folder)
        scene = Scene(
            kind,
            classes,
            shot["caption"],
            sources,
            events,
            model_rate_audio(film.audio, config.audio.sample_rate, config.window_samples),
            frames,
            video,
        )
        for strength in damage if kind in DISCRETE else ():
            damaged = make_film(
                fseed, synth_config(classes, strength), name=f"heldout_{index:03d}_damaged_{strength:g}"
            )
            scene.damaged[strength], _ = model_frames(damaged, config, folder)
        scenes.append(scene)
    return scenes


def judge_corpus(films: int, seed: int, config) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground-truth audio and label targets of ``films`` random single-shot 4 s films."""
    audio, targets = [], []
    for index in range(films):
        film = make_film(
            film_seed(seed, index), replace(synth_config(judging.COARSE, 0.0, small=True), mixed_prob=0.3)
        )
        sources = [(s["class"], s["fine"]) for s in film.truth["shots"][0]["sources"]]
        audio.append(model_rate_audio(film.audio, config.audio.sample_rate, config.window_samples))
        targets.append(judging.target_vector(judging.labels_of(sources)))
    return torch.from_numpy(np.stack(audio)), torch.from_numpy(np.stack(targets))


def onset_counts(audio: np.ndarray, scene: Scene, rate: int, tolerance: float) -> OnsetCounts:
    return match_onsets(detect_onsets(audio, rate), scene.events, tolerance)


def generate(
    generator: Generator,
    scenes: list[Scene],
    args,
    *,
    negative: list[str] | None = None,
    use_video: bool = True,
) -> list[np.ndarray]:
    out = generator.generate(
        np.stack([s.frames for s in scenes]),
        [s.caption for s in scenes],
        negative,
        seeds=[1000 + i for i in range(len(scenes))],
        steps=args.steps,
        text_guidance=args.text_guidance,
        video_guidance=args.video_guidance,
        negative_guidance=args.negative_guidance,
        batch_size=8,
        use_video=use_video,
    )
    return at_model_rate(out, generator)


def at_model_rate(audio: torch.Tensor, generator: Generator) -> list[np.ndarray]:
    """(B, samples) at the vocoder's rate -> B clips at the model's rate, where the judge and the
    onset detector were calibrated (a 24 kHz vocoder's band above 8 kHz is bench/codec.py's to
    measure)."""
    rate, model_rate = generator.vocoder.sample_rate, generator.config.audio.sample_rate
    samples = generator.config.window_samples
    return [
        resample(np.asarray(a, dtype=np.float32), rate, model_rate, length=samples) for a in audio.numpy()
    ]


def timing_head_counts(generator: Generator, scenes: list[Scene]) -> OnsetCounts:
    """The event track alone (the timing head's marks at the checkpoint's threshold) against the
    truth at +-50 ms: the timing the denoiser is handed, before any sound is made."""
    threshold = generator.config.network.event_threshold
    clips = [(scene.frames, scene.events) for scene in scenes]
    return threshold_sweep(generator.network, clips, thresholds=(threshold,))[threshold]


def row_metrics(name: str, audio: list[np.ndarray], scenes: list[Scene], judge, rate: int) -> dict:
    by_kind: dict[str, OnsetCounts] = {}
    wide = OnsetCounts()
    for a, s in zip(audio, scenes):
        if s.kind in DISCRETE or s.kind == "mix":
            by_kind[s.kind] = by_kind.get(s.kind, OnsetCounts()) + onset_counts(a, s, rate, 0.05)
        if s.kind in DISCRETE:
            wide = wide + onset_counts(a, s, rate, 0.10)
    events = by_kind.get("impact", OnsetCounts()) + by_kind.get("footsteps", OnsetCounts())
    probabilities = judge.probabilities(torch.from_numpy(np.stack(audio)))
    fine_hits = fine_total = coarse_hits = coarse_total = 0
    for p, s in zip(probabilities, scenes):
        if s.kind == "mix":
            continue
        coarse_total += 1
        coarse_hits += judging.COARSE[int(torch.argmax(p[: len(judging.COARSE)]))] == s.kind
        if s.kind in DISCRETE:
            fine_total += 1
            truth = judging.labels_of(s.sources)
            fine_hits += judging.fine_prediction(p, s.kind) in truth
    return {
        "name": name,
        "f1_50": events.f1,
        "f1_100": wide.f1,
        "impact": by_kind.get("impact", OnsetCounts()).f1,
        "footsteps": by_kind.get("footsteps", OnsetCounts()).f1,
        "precision": events.precision,
        "recall": events.recall,
        "mix": by_kind.get("mix", OnsetCounts()).f1,
        "fine": fine_hits / max(1, fine_total),
        "coarse": coarse_hits / max(1, coarse_total),
    }


def grain(audio: list[np.ndarray], mel: MelSpectrogram) -> float:
    """Mean |log-mel(frame k+1) - log-mel(frame k)| over clips, bins and frames: a sampler that
    leaves noise behind scores above the ground truth, and the judge hears that residue."""
    with torch.no_grad():
        log_mel = mel(torch.from_numpy(np.stack(audio)).float())
    return float((log_mel[..., 1:] - log_mel[..., :-1]).abs().mean())


def print_table(rows: list[dict]) -> None:
    header = (
        "",
        "F1@50 all",
        "impacts",
        "footsteps",
        "P",
        "R",
        "F1@100 all",
        "mixes@50",
        "fine acc",
        "coarse acc",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        cells = [r["name"]] + [
            f"{r[k]:.3f}"
            for k in (
                "f1_50",
                "impact",
                "footsteps",
                "precision",
                "recall",
                "f1_100",
                "mix",
                "fine",
                "coarse",
            )
        ]
        print("| " + " | ".join(cells) + " |")


def restore_tracks(args, checkpoint: str, rows: list[dict], folder: Path, name: str) -> dict[str, np.ndarray]:
    """Run the restore job (one take, in-process) on manifest ``rows``; film_id -> 48 kHz track."""
    from media import storage
    from media.flac import decode_flac
    from pipelines import restore
    from transforms.tables import read_table

    manifest = folder / f"{name}.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = folder / f"{name}-out"
    argv = [
        "--input",
        str(manifest),
        "--output",
        str(output),
        "--checkpoint",
        checkpoint,
        "--takes",
        "1",
        "--vocoder",
        args.vocoder,
        "--runner=FnApiRunner",
    ]
    if args.steps:
        argv += ["--steps", str(args.steps)]
    if args.text_guidance is not None:
        argv += ["--text_guidance", str(args.text_guidance)]
    if args.video_guidance is not None:
        argv += ["--video_guidance", str(args.video_guidance)]
    if args.negative_guidance is not None:
        argv += ["--negative_guidance", str(args.negative_guidance)]
    restore.run(argv)
    tracks = {}
    for film in read_table(str(output), "films").to_pylist():
        if film["flac_uri"]:
            audio, rate, _ = decode_flac(storage.read_bytes(film["flac_uri"]))
            tracks[film["film_id"]] = audio
    return tracks


def flux_at_seams(
    audio: np.ndarray, rate: int, seams: list[tuple[float, float]], edge_s: float = 0.1
) -> tuple[float, float]:
    """(mean spectral flux inside the seam spans, mean elsewhere), 10 ms frames, ends trimmed."""
    hop, n = rate // 100, rate // 25
    frames = (len(audio) - n) // hop
    index = np.arange(n)[None, :] + hop * np.arange(frames)[:, None]
    spectrum = np.log1p(100 * np.abs(np.fft.rfft(audio[index] * np.hanning(n), axis=1)))
    flux = np.maximum(np.diff(spectrum, axis=0), 0).sum(axis=1)
    times = (np.arange(1, frames) * hop + n / 2) / rate
    inside = np.zeros(times.shape, bool)
    for start, end in seams:
        inside |= (times >= start) & (times <= end)
    keep = (times > edge_s) & (times < times[-1] - edge_s)
    return float(flux[inside & keep].mean()), float(flux[~inside & keep].mean())


def pipeline_section(
    args, trained: Generator, scenes: list[Scene], model_audio: list[np.ndarray], folder: Path
) -> list[tuple[str, bool]]:
    """The restore job on the event scenes (film-track onset F1 against the model alone on the
    same scenes) and on long single-shot films (spectral flux at window seams against elsewhere)."""
    checkpoint = args.checkpoint or str(
        Path(__file__).resolve().parents[1] / "model/weights/tiny.safetensors"
    )
    config, rate = trained.config, trained.config.audio.sample_rate
    events = [s for s in scenes if s.kind in DISCRETE]
    rows = [
        {"video_input": s.video, "positive_prompt": s.caption, "film_id": Path(s.video).stem} for s in events
    ]
    tracks = restore_tracks(args, checkpoint, rows, folder, "events")
    alone, piped = OnsetCounts(), OnsetCounts()
    for scene in events:
        track = tracks.get(Path(scene.video).stem)
        if track is None:
            continue
        audio = model_rate_audio(track, rate, len(track) * rate // FILM_RATE)
        piped = piped + onset_counts(audio, scene, rate, 0.05)
        alone = alone + onset_counts(model_audio[scenes.index(scene)], scene, rate, 0.05)
    print(
        f"\nrestore job on {len(tracks)}/{len(events)} event scenes: film-track onset F1@50 {piped.f1:.3f} "
        f"(P {piped.precision:.3f} R {piped.recall:.3f}); the model alone on the same scenes {alone.f1:.3f}"
    )

    stride, overlap = config.window.stride_s, config.window.overlap_s
    long_rows, spans = [], {}
    for index in range(args.seam_films):
        classes = (judging.COARSE[index % len(judging.COARSE)],)
        cfg = replace(synth_config(classes, 0.0), shot_seconds=(10.0, 10.0))
        film = make_film(film_seed(args.seed + 2, index), cfg, name=f"long_{index:02d}")
        path = folder / f"{film.name}.mp4"
        path.write_bytes(encode_mp4(film))
        long_rows.append(
            {
                "video_input": str(path),
                "positive_prompt": film.truth["shots"][0]["caption"],
                "film_id": film.name,
            }
        )
        duration = film.truth["duration_s"]
        spans[film.name] = [(k * stride, k * stride + overlap) for k in range(1, 10) if k * stride < duration]
    long_tracks = restore_tracks(args, checkpoint, long_rows, folder, "long")
    seam, elsewhere = [], []
    for film_id, track in long_tracks.items():
        inside, outside = flux_at_seams(track, FILM_RATE, spans[film_id])
        seam.append(inside)
        elsewhere.append(outside)
    ratio = float(np.mean(seam) / np.mean(elsewhere)) if seam else float("nan")
    print(
        f"seams on {len(long_tracks)} 10 s scenes (windows every {stride:g} s, {overlap:g} s blends): "
        "spectral "
        f"flux in the blends {np.mean(seam):.2f} vs elsewhere {np.mean(elsewhere):.2f} (x{ratio:.2f})"
    )
    return [
        ("film-track onset F1 within 10% of the model alone", piped.f1 >= 0.9 * alone.f1),
        ("no seam (flux in blends <= elsewhere)", ratio <= 1.0),
    ]


def evaluate(args, trained: Generator, untrained: Generator, config, folder: Path, began: float) -> int:
    rate = config.audio.sample_rate
    scenes = make_scenes(args.scenes, args.seed, config, folder, args.damage)
    print(
        f"{len(scenes)} held-out scenes (seed {args.seed}) in {time.perf_counter() - began:.0f} s",
        file=sys.stderr,
    )

    audio, targets = judge_corpus(args.judge_films, args.seed + 1, config)
    judge = judging.train_judge(audio, targets, config.audio)
    print(
        f"judge trained on {len(audio)} ground-truth clips at {time.perf_counter() - began:.0f} s",
        file=sys.stderr,
    )

    truth = [s.truth_audio for s in scenes]
    mel, vocoder = MelSpectrogram(config.audio), trained.vocoder  # the vocoder generation uses
    with torch.no_grad():
        round_trip = at_model_rate(vocoder(mel(torch.from_numpy(np.stack(truth)))), trained)
    outputs = {
        "ground truth": truth,
        "codec round trip": round_trip,
        "trained": generate(trained, scenes, args),
        "video dropped": generate(trained, scenes, args, use_video=False),
        "untrained": generate(untrained, scenes, args),
    }
    print(f"generated at {time.perf_counter() - began:.0f} s", file=sys.stderr)
    rows = [row_metrics(name, a, scenes, judge, rate) for name, a in outputs.items()]
    print(
        f"\nbench/quality.py: {config.config_hash()} checkpoint {trained.checkpoint_sha256 or '?'}; "
        f"{sum(s.kind in DISCRETE for s in scenes)} event scenes, {sum(s.kind == 'mix' for s in scenes)} "
        "mixes, "
        f"{sum(s.kind in CONTINUOUS for s in scenes)} texture scenes; judge on ground truth only\n"
    )
    print_table(rows)
    print(
        "\nlog-mel grain (mean |change| between adjacent mel frames, all scenes): "
        + ", ".join(f"{name} {grain(a, mel):.3f}" for name, a in outputs.items())
    )

    # negative prompts on mixes: negate the continuous source
    mixes = [s for s in scenes if s.kind == "mix"]
    negated = generate(trained, mixes, args, negative=[s.classes[1] for s in mixes])
    plain = [outputs["trained"][scenes.index(s)] for s in mixes]
    p_plain = judge.probabilities(torch.from_numpy(np.stack(plain)))
    p_negated = judge.probabilities(torch.from_numpy(np.stack(negated)))
    column = [judging.LABELS.index(s.classes[1]) for s in mixes]
    p_truth = judge.probabilities(torch.from_numpy(np.stack([s.truth_audio for s in mixes])))
    truth_p = float(np.mean([p_truth[i, c] for i, c in enumerate(column)]))
    with_p = float(np.mean([p_plain[i, c] for i, c in enumerate(column)]))
    without_p = float(np.mean([p_negated[i, c] for i, c in enumerate(column)]))
    f1_plain = sum((onset_counts(a, s, rate, 0.05) for a, s in zip(plain, mixes)), OnsetCounts()).f1
    f1_negated = sum((onset_counts(a, s, rate, 0.05) for a, s in zip(negated, mixes)), OnsetCounts()).f1

    # robustness: damaged versus clean renders of the event scenes, at each damage strength
    events = [s for s in scenes if s.kind in DISCRETE]
    clean = [outputs["trained"][scenes.index(s)] for s in events]
    f1_clean = sum((onset_counts(a, s, rate, 0.05) for a, s in zip(clean, events)), OnsetCounts()).f1
    head_clean = timing_head_counts(trained, events)
    f1_damaged, head_damaged = {}, {}
    for strength in args.damage:
        damaged_scenes = [replace(s, frames=s.damaged[strength]) for s in events]
        damaged = generate(trained, damaged_scenes, args)
        f1_damaged[strength] = sum(
            (onset_counts(a, s, rate, 0.05) for a, s in zip(damaged, events)), OnsetCounts()
        ).f1
        head_damaged[strength] = timing_head_counts(trained, damaged_scenes).f1

    by = {r["name"]: r for r in rows}
    t, d = by["trained"], by["video dropped"]
    ratio_p = without_p / with_p if with_p > 0 else float("nan")
    drop_f1 = 1 - f1_negated / f1_plain if f1_plain > 0 else float("nan")
    print(
        f"\nnegative prompt on {len(mixes)} mixes (negating the texture): judge P(texture) {with_p:.3f} -> "
        f"{without_p:.3f} (x{ratio_p:.2f}; {truth_p:.3f} on their ground truth); the other source's onset "
        f"F1@50 {f1_plain:.3f} -> {f1_negated:.3f}"
    )
    for strength in args.damage:
        print(
            f"robustness on {len(events)} event scenes, damage {strength:g}: onset F1@50 clean "
            f"{f1_clean:.3f}, "
            f"damaged {f1_damaged[strength]:.3f} "
            f"(x{f1_damaged[strength] / f1_clean if f1_clean else float('nan'):.2f}); "
            f"timing head alone (its marks, no sound) {head_clean.f1:.3f} -> {head_damaged[strength]:.3f}"
        )
    print(
        f"timing head alone on the clean event scenes: P {head_clean.precision:.3f}, R "
        f"{head_clean.recall:.3f}"
    )
    checks = [
        ("onset F1@50 overall >= 0.85", t["f1_50"] >= 0.85),
        ("onset F1@50 impacts >= 0.6", t["impact"] >= 0.6),
        ("onset F1@50 >= video-dropped + 0.3", t["f1_50"] >= d["f1_50"] + 0.3),
        ("judge fine accuracy >= 0.9", t["fine"] >= 0.9),
        ("negative prompt halves P(negated)", ratio_p <= 0.5),
        ("other source's F1 falls <= 10%", drop_f1 <= 0.10),
    ] + [
        (f"damaged F1 >= 0.95 x clean (damage {strength:g})", f1_damaged[strength] >= 0.95 * f1_clean)
        for strength in args.damage
    ]
    if args.pipeline:
        checks += pipeline_section(args, trained, scenes, outputs["trained"], folder)
    print("\ntargets: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks))
    print(f"({time.perf_counter() - began:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--checkpoint", default=None, help="default: the shipped model/weights/tiny.safetensors"
    )
    parser.add_argument(
        "--scenes", type=int, default=16, help="scenes per discrete class and of mixes (default 16)"
    )
    parser.add_argument("--seed", type=int, default=880000)
    parser.add_argument("--judge-films", type=int, default=480)
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the checkpoint's)")
    parser.add_argument("--text-guidance", type=float, default=None, help="default: the checkpoint's")
    parser.add_argument("--video-guidance", type=float, default=None, help="default: the checkpoint's")
    parser.add_argument("--negative-guidance", type=float, default=None, help="default: the checkpoint's")
    parser.add_argument(
        "--damage",
        type=float,
        nargs="+",
        default=[1.0, 0.5],
        help="damage strengths of the robustness check (default: 1, the foley world's "
        "heaviest, and 0.5, heavier than the real clips in bench/damage_levels.py)",
    )
    parser.add_argument(
        "--vocoder",
        default="auto",
        choices=VOCODER_CHOICES,
        help="the vocoder of the codec, trained, video-dropped and untrained rows (default: auto, the "
        "restore job's default)",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="also run the restore job on the event scenes and on long scenes: film-track "
        "onset F1 against the model alone, and spectral flux at window seams",
    )
    parser.add_argument("--seam-films", type=int, default=8, help="10 s single-shot films for the seam check")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    began = time.perf_counter()
    text_encoder = TextEncoder()
    trained = load_generator(args.checkpoint, text_encoder=text_encoder, device="cpu")
    config = trained.config
    vocoder = build_vocoder(args.vocoder, config.audio)
    trained.vocoder = vocoder
    untrained = Generator.from_config(
        config, seed=0, text_encoder=text_encoder, device="cpu", vocoder=vocoder
    )
    print(f"vocoder {vocoder.name}", file=sys.stderr)

    folder = Path(tempfile.mkdtemp(prefix="talkie-quality-"))
    try:
        return evaluate(args, trained, untrained, config, folder, began)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
