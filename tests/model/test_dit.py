"""The DiT denoiser: shapes, adaLN-Zero start, parameter budget, where video and text reach the output."""

from __future__ import annotations

import pytest
import torch

from model.config import ModelConfig, NetworkConfig, VideoConfig, WindowConfig, estimated_parameters, preset
from model.networks import build_network
from model.networks.dit import (
    DiT,
    denoiser_parameters,
    event_marks,
    interpolation_matrix,
    sample_condition_dropout,
)

TEXT_TOKENS = 6


def small_config(**sampler) -> ModelConfig:
    """1 s windows (64 mel frames, 32 tokens), 8 frames of 16x16 at 8 fps, a 32-wide 2-block DiT."""
    from model.config import SamplerConfig

    return ModelConfig(
        video=VideoConfig(fps=8, height=16, width=16),
        network=NetworkConfig(width=32, depth=2, heads=2, patch_frames=2),
        window=WindowConfig(window_s=1.0, overlap_s=0.25),
        sampler=SamplerConfig(**{"steps": 3, **sampler}),
    )


def wake_up(network: DiT, seed: int = 0, std: float = 0.05) -> None:
    """Move every zero-initialised adaLN and final-layer tensor off zero, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in network.named_parameters():
            if "modulation" in name or name.startswith("final.") or "cross_attention.out" in name:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * std)


def make_inputs(config: ModelConfig, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, dict]:
    generator = torch.Generator().manual_seed(seed)
    v = config.video
    mask = torch.ones(batch, TEXT_TOKENS, dtype=torch.bool)
    mask[:, -2:] = False
    cond = {
        "text_tokens": torch.randn(batch, TEXT_TOKENS, 384, generator=generator),
        "text_mask": mask,
        "text_pooled": torch.randn(batch, 384, generator=generator),
        "video": torch.rand(batch, config.video_frames, 1, v.height, v.width, generator=generator),
    }
    x = torch.randn(batch, config.audio.n_mels, config.window_frames, generator=generator)
    t = torch.rand(batch, generator=generator)
    return x, t, cond


@pytest.fixture
def network() -> DiT:
    torch.manual_seed(0)
    return build_network(small_config()).eval()


def test_output_has_the_shape_of_x(network):
    x, t, cond = make_inputs(network.config, 3)
    assert network(x, t, cond).shape == x.shape == (3, 64, 64)


def test_tiny_preset_output_shape_from_precomputed_features():
    config = preset("tiny")
    net = DiT(config).eval()
    x, t, cond = make_inputs(config, 1)
    with torch.no_grad():
        cond["video"] = net.encode_video(cond["video"])
        assert cond["video"].shape == (1, config.video_frames, config.network.width)
        assert net(x, t, cond).shape == (1, 64, config.window_frames)


def test_untrained_network_predicts_zero_then_learns_after_one_step(network):
    x, t, cond = make_inputs(network.config, 4)
    assert torch.count_nonzero(network(x, t, cond)) == 0
    network.train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    loss = (network(x, t, cond) - torch.randn_like(x)).pow(2).mean()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        assert network(x, t, cond).abs().max() > 1e-4


def test_tiny_parameter_count_is_within_a_quarter_of_the_budget():
    config = preset("tiny")
    counted, budget = denoiser_parameters(DiT(config)), estimated_parameters(config)
    assert abs(counted - budget) / budget < 0.25, (counted, budget)


def test_frame_change_moves_only_the_tokens_near_that_frame():
    # With zero gates (and cross-attention outputs) every block is the identity, so token i sees only
    # its own patch, its event-track patch and the frame features interpolated at its time. A change
    # to frame j changes the stacked inputs of frames j - 1..j + 1 (the signed differences look one
    # frame each way), and the encoder's temporal convolutions (dilations 1, 2, 4) reach 7 frames
    # further: features j - 8..j + 8 move, so tokens within one frame of those, and no others.
    # The event track is given, so the timing head's marks cannot move with the frame.
    torch.manual_seed(0)
    config = ModelConfig(
        video=VideoConfig(fps=8, height=16, width=16),
        network=NetworkConfig(width=32, depth=2, heads=2, patch_frames=2),
        window=WindowConfig(window_s=4.0, overlap_s=1.0),
    )
    network = build_network(config).eval()
    with torch.no_grad():
        network.final.linear.weight.normal_(0, 0.1)
    x, t, cond = make_inputs(config, 1)
    cond["events"] = torch.zeros(1, config.window_frames)
    j = 12
    changed = {**cond, "video": cond["video"].clone()}
    changed["video"][:, j] = torch.rand_like(changed["video"][:, j])
    with torch.no_grad():
        delta = (network(x, t, changed) - network(x, t, cond)).abs().amax(dim=1)[0]  # (F,) per mel frame
    frame_rate, fps = config.audio.frame_rate, config.video.fps
    patch = config.network.patch_frames
    token_of_frame = torch.arange(delta.shape[0]) // patch
    token_times = (token_of_frame * patch + (patch - 1) / 2) / frame_rate  # each mel frame's token's time
    near = (token_times > (j - 9) / fps) & (token_times < (j + 9) / fps)
    assert delta[near].max() > 1e-4
    assert delta[~near].max() == 0


def test_an_event_mark_moves_only_its_own_token(network):
    # identity blocks: a mark on mel frame k reaches the output only through token k // patch
    with torch.no_grad():
        network.final.linear.weight.normal_(0, 0.1)
    x, t, cond = make_inputs(network.config, 1)
    frames, patch = network.config.window_frames, network.config.network.patch_frames
    quiet = {**cond, "events": torch.zeros(1, frames)}
    marked = {**cond, "events": event_marks([[0.5]], frames, network.config.audio.frame_rate)}
    k = round(0.5 * network.config.audio.frame_rate)
    assert marked["events"][0].nonzero().flatten().tolist() == [k]
    with torch.no_grad():
        delta = (network(x, t, marked) - network(x, t, quiet)).abs().amax(dim=1)[0]
    token = torch.arange(frames) // patch
    assert delta[token == k // patch].min() > 1e-4
    assert delta[token != k // patch].max() == 0


def test_without_an_event_track_the_timing_head_marks_it(network):
    wake_up(network)
    x, t, cond = make_inputs(network.config, 2)
    features = network.encode_video(cond["video"])
    predicted = network.predicted_events(features, network.config.window_frames)
    with torch.no_grad():
        implicit = network(x, t, cond)
        explicit = network(x, t, {**cond, "events": predicted})
        other = network(x, t, {**cond, "events": 1.0 - predicted})
    torch.testing.assert_close(implicit, explicit)
    assert (implicit - other).abs().max() > 1e-4


def test_predicted_events_mark_peaks_above_the_threshold(network):
    # the head's probability per frame, set through its bias on zeroed weights: sigmoid(logit)
    fps, frame_rate = network.config.video.fps, network.config.audio.frame_rate
    logits = torch.tensor([[-3.0, 2.0, 1.0, -1.0, 0.0, 0.0, -2.0, 0.3]])  # (1, Tv = 8)
    head = network.visual.onset_head
    with torch.no_grad():
        head.weight.zero_()
        features = torch.zeros(1, 8, network.width)
        features[0, :, 0] = logits[0]
        head.weight[0, 0] = 1.0
        head.bias.zero_()
        marks = network.predicted_events(features, network.config.window_frames)
    # frame 1 (a peak, p 0.88; frame 2 is higher than 0.5 but no peak), frames 4-5 a plateau at
    # p = 0.5 (the threshold is inclusive; a plateau marks its first frame), and the last frame.
    # Each moves to the vertex of the parabola through it and its neighbours, by at most half a
    # frame: frame 1 by 0.348 (0.1685 s, mel frame 10.78 -> 11), frame 4 by exactly 0.5 (its
    # right neighbour ties it: 0.5625 s, mel frame 36); the last frame has one neighbour and stays.
    p = torch.sigmoid(logits[0]).double()

    def vertex(j: int) -> float:
        return j + 0.5 * float((p[j - 1] - p[j + 1]) / (p[j - 1] - 2 * p[j] + p[j + 1]))

    times = [vertex(1) / fps, vertex(4) / fps, 7 / fps]
    assert [round(t * frame_rate) for t in times] == [11, 36, 56]
    assert marks[0].nonzero().flatten().tolist() == [11, 36, 56]


def test_video_reaches_every_token_once_the_gates_are_open(network):
    wake_up(network)
    x, t, cond = make_inputs(network.config, 1)
    changed = {**cond, "video": cond["video"].clone()}
    changed["video"][:, 0] = torch.rand_like(changed["video"][:, 0])
    with torch.no_grad():
        delta = (network(x, t, changed) - network(x, t, cond)).abs().amax(dim=1)[0]
    assert delta[-8:].min() > 0  # the last tokens are far from frame 0: reached by attention


def test_dropped_conditions_ignore_their_inputs(network):
    wake_up(network)
    x, t, cond = make_inputs(network.config, 2)
    _, _, other = make_inputs(network.config, 2, seed=1)
    dropped = {**cond, "drop_text": torch.tensor([True, False]), "drop_video": torch.tensor([True, False])}
    swapped = {**other, "drop_text": dropped["drop_text"], "drop_video": dropped["drop_video"]}
    with torch.no_grad():
        a, b = network(x, t, dropped), network(x, t, swapped)
    torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)
    assert (a[1] - b[1]).abs().max() > 1e-4


def test_masked_text_tokens_do_not_matter(network):
    wake_up(network)
    x, t, cond = make_inputs(network.config, 1)
    changed = {**cond, "text_tokens": cond["text_tokens"].clone()}
    changed["text_tokens"][:, -2:] = 100.0  # positions the mask switches off
    with torch.no_grad():
        torch.testing.assert_close(network(x, t, changed), network(x, t, cond), rtol=1e-5, atol=1e-6)


def test_patchify_round_trips(network):
    x = torch.randn(2, 64, 64)
    tokens = network.patchify(x)
    assert tokens.shape == (2, 32, 128)
    torch.testing.assert_close(tokens[0, 5, :64], x[0, :, 10])  # token 5 starts with mel frame 10
    assert torch.equal(network.unpatchify(tokens), x)


def test_interpolation_puts_a_frame_on_the_token_at_its_time():
    # 4 tokens a second, starting at 0; 2 frames a second
    matrix = interpolation_matrix(8, 4, token_rate=4.0, first_token_time=0.0, fps=2.0)
    torch.testing.assert_close(matrix.sum(dim=1), torch.ones(8))
    assert matrix[2].tolist() == [0.0, 1.0, 0.0, 0.0]  # token 2 at 0.5 s is frame 1
    assert matrix[3].tolist() == [0.0, 0.5, 0.5, 0.0]  # 0.75 s lies halfway between frames 1 and 2
    assert matrix[7].tolist() == [0.0, 0.0, 0.0, 1.0]  # past the last frame: clamped to it


def test_bad_shapes_are_named(network):
    x, t, cond = make_inputs(network.config, 2)
    with pytest.raises(ValueError, match=r"\(2, 64, 63\)"):
        network(x[..., :63], t, cond)
    with pytest.raises(ValueError, match=r"video.*\(2, 8, 5\)"):
        network(x, t, {**cond, "video": torch.zeros(2, 8, 5)})
    with pytest.raises(ValueError, match="drop_text"):
        network(x, t, {**cond, "drop_text": torch.zeros(2)})


def test_condition_dropout_rates():
    drop_text, drop_video = sample_condition_dropout(
        20000, small_config(), generator=torch.Generator().manual_seed(0)
    )
    assert 0.09 < drop_text.float().mean() < 0.11 and 0.09 < drop_video.float().mean() < 0.11
    assert (drop_text & drop_video).float().mean() < 0.02  # independent draws
