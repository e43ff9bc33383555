"""model.calibrate: the timing head's threshold is chosen on validation films and only it changes."""

from __future__ import annotations

import dataclasses

import torch

from model import calibrate
from model.checkpoint import load_checkpoint, save_checkpoint
from model.config import ModelConfig, NetworkConfig, VideoConfig, WindowConfig
from model.networks import build_network


def test_calibration_writes_the_best_threshold_and_keeps_the_weights(tmp_path, monkeypatch):
    config = ModelConfig(
        video=VideoConfig(fps=8, height=16, width=16),
        network=NetworkConfig(width=32, depth=1, heads=2, patch_frames=2),
        window=WindowConfig(window_s=1.0, overlap_s=0.25),
    )
    torch.manual_seed(0)
    network = build_network(config)
    source = str(tmp_path / "in.safetensors")
    save_checkpoint(source, network.state_dict(), config, extra_metadata={"train_step": "7"})

    # a head whose F1 peaks at one threshold: score each threshold by its distance from 0.65
    def sweep(net, clips):
        assert len(clips) == 3 * 1 and all(frames.shape == (8, 16, 16) for frames, _ in clips)
        return {
            t: calibrate.OnsetCounts(tp=100 - round(100 * abs(t - 0.65)), fp=5, fn=5)
            for t in calibrate.THRESHOLDS
        }

    monkeypatch.setattr(calibrate, "threshold_sweep", sweep)
    out = str(tmp_path / "out.safetensors")
    assert calibrate.calibrate(source, out, films=1, seed=7300) == 0.65

    before, after = load_checkpoint(source), load_checkpoint(out)
    assert after.config == dataclasses.replace(
        config, network=dataclasses.replace(config.network, event_threshold=0.65)
    )
    assert after.state_dict.keys() == before.state_dict.keys()
    assert all(torch.equal(after.state_dict[k], before.state_dict[k]) for k in before.state_dict)
    assert (
        after.metadata["train_step"] == "7" and "seed 7300" in after.metadata["event_threshold_calibration"]
    )


def test_the_sweep_counts_the_heads_marks_against_the_events():
    config = ModelConfig(
        video=VideoConfig(fps=8, height=16, width=16),
        network=NetworkConfig(width=32, depth=1, heads=2, patch_frames=2),
        window=WindowConfig(window_s=1.0, overlap_s=0.25),
    )
    network = build_network(config).eval()
    with torch.no_grad():  # a head that reads nothing: probability sigmoid(0.0) = 0.5 on every frame
        network.visual.onset_head.weight.zero_()
        network.visual.onset_head.bias.zero_()
    frames = torch.zeros(8, 16, 16, dtype=torch.uint8).numpy()
    totals = calibrate.threshold_sweep(network, [(frames, [0.0, 0.5])])
    # a flat 0.5 is one plateau, marked on its first frame (time 0) up to threshold 0.5, else nothing
    assert totals[0.5] == calibrate.OnsetCounts(tp=1, fp=0, fn=1)
    assert totals[0.55] == calibrate.OnsetCounts(tp=0, fp=0, fn=2)
