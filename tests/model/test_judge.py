"""model.judge: labels, and a judge that learns to tell two kinds of sound apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import judge as J
from model.config import preset


def test_labels_keep_fine_names_only_for_impacts_and_footsteps():
    assert J.labels_of([("impact", "metal"), ("rain", "heavy")]) == {"impact", "impact:metal", "rain"}
    assert J.labels_of([("footsteps", "gravel")]) == {"footsteps", "footsteps:gravel"}
    vector = J.target_vector({"rain", "impact:glass"})
    assert vector.sum() == 2 and vector[J.LABELS.index("impact:glass")] == 1
    with pytest.raises(ValueError, match="unknown judge labels"):
        J.target_vector({"music"})


def test_fine_prediction_chooses_within_the_class():
    p = torch.zeros(len(J.LABELS))
    p[J.LABELS.index("footsteps:wood")] = 0.9  # higher, but another class's label
    p[J.LABELS.index("impact:glass")] = 0.6
    assert J.fine_prediction(p, "impact") == "impact:glass"
    with pytest.raises(ValueError, match="no fine labels"):
        J.fine_prediction(p, "rain")


def test_judge_learns_noise_from_tones():
    audio_config = preset("tiny").audio
    rng = np.random.default_rng(0)
    n, samples = 48, audio_config.sample_rate
    t = np.arange(samples) / audio_config.sample_rate
    clips, targets = [], []
    for i in range(n):
        if i % 2:
            clips.append(0.3 * rng.standard_normal(samples))  # "rain": broadband noise
            targets.append(J.target_vector({"rain"}))
        else:
            f = rng.uniform(80, 160)
            clips.append(0.3 * np.sin(2 * np.pi * f * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t)))  # "engine"
            targets.append(J.target_vector({"engine"}))
    audio = torch.tensor(np.stack(clips), dtype=torch.float32)
    judge = J.train_judge(
        audio, torch.from_numpy(np.stack(targets)), audio_config, J.JudgeTraining(epochs=60)
    )
    held_out = torch.tensor(
        np.stack([0.2 * rng.standard_normal(samples), 0.2 * np.sin(2 * np.pi * 120 * t)]), dtype=torch.float32
    )
    p = judge.probabilities(held_out)
    rain, engine = J.LABELS.index("rain"), J.LABELS.index("engine")
    assert p[0, rain] > 0.5 > p[0, engine]
    assert p[1, engine] > 0.5 > p[1, rain]
