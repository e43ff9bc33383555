"""Generation: seeded, batch-independent, window-long audio; checkpoints in and out."""

from __future__ import annotations

import pytest
import torch

from model import generate as generate_module
from model.checkpoint import save_checkpoint
from model.conditioning import TextEncoder
from model.generate import Generator, load_generator
from model.latent import latent_to_log_mel, log_mel_to_latent
from model.vocoders.griffin_lim import GriffinLim
from tests.model.test_dit import small_config, wake_up

PROMPTS = ["rain on a roof", "a ball bounces on a wooden floor", "an engine revs", "footsteps"]


@pytest.fixture(scope="module")
def text_encoder() -> TextEncoder:
    return TextEncoder()


def make_generator(text_encoder, seed: int = 0) -> Generator:
    config = small_config()
    generator = Generator.from_config(
        config, seed, text_encoder=text_encoder, vocoder=GriffinLim(config.audio, iterations=4), device="cpu"
    )
    wake_up(generator.network, seed)  # an untrained network predicts 0; open its gates so it matters
    return generator


@pytest.fixture(scope="module")
def generator(text_encoder) -> Generator:
    return make_generator(text_encoder)


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    return torch.randint(
        0, 256, (4, 8, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )


def test_output_is_one_window_per_row(generator, frames):
    audio = generator.generate(frames[:2], PROMPTS[:2], None, seeds=[0, 1], batch_size=2)
    assert audio.shape == (2, generator.config.window_samples) and audio.dtype == torch.float32
    assert audio.abs().max() > 0


def test_same_seed_same_audio_and_different_seeds_differ(generator, frames):
    first = generator.generate(frames[:2], PROMPTS[:2], None, seeds=[5, 5], batch_size=2)
    again = generator.generate(frames[:2], PROMPTS[:2], None, seeds=[5, 5], batch_size=2)
    other = generator.generate(frames[:2], PROMPTS[:2], None, seeds=[6, 7], batch_size=2)
    assert torch.equal(first, again)
    assert (first - other).abs().amax(dim=1).min() > 1e-3


def test_a_row_alone_equals_the_same_row_in_a_batch(generator, frames):
    together = generator.generate(
        frames, PROMPTS, ["music", "", None, "speech"], seeds=[3, 4, 5, 6], batch_size=3
    )
    alone = generator.generate(frames[2:3], PROMPTS[2:3], [None], seeds=[5], batch_size=3)
    assert torch.equal(together[2], alone[0])  # row 2 of the first batch; alone it is row 0, padded
    last = generator.generate(frames[3:], PROMPTS[3:], ["speech"], seeds=[6], batch_size=3)
    assert torch.equal(together[3], last[0])  # row 0 of the second, padded batch


def test_negative_prompt_matters_only_under_negative_guidance(generator, frames):
    def run(negative: str, negative_guidance: float, text_guidance: float = 2.0) -> torch.Tensor:
        return generator.generate(
            frames[:1],
            PROMPTS[:1],
            [negative],
            seeds=[1],
            text_guidance=text_guidance,
            negative_guidance=negative_guidance,
            batch_size=1,
        )

    plain = run("", 0.0)
    assert torch.equal(run("music", 0.0), plain) and torch.equal(run("", 3.0), plain)
    assert (run("music", 3.0) - plain).abs().max() > 1e-3
    # its weight is its own: it works with text guidance off
    assert (run("music", 2.0, text_guidance=1.0) - run("", 2.0, text_guidance=1.0)).abs().max() > 1e-3


def test_heun_and_step_overrides_change_the_result(generator, frames):
    euler = generator.generate(frames[:1], PROMPTS[:1], None, seeds=[1], batch_size=1)
    heun = generator.generate(frames[:1], PROMPTS[:1], None, seeds=[1], sampler="heun", batch_size=1)
    fewer = generator.generate(frames[:1], PROMPTS[:1], None, seeds=[1], steps=1, batch_size=1)
    assert (euler - heun).abs().max() > 1e-3 and (euler - fewer).abs().max() > 1e-3


def test_bad_inputs_are_named(generator, frames):
    with pytest.raises(ValueError, match=r"\(4, 7, 16, 16\)"):
        generator.generate(frames[:, :7], PROMPTS, None, seeds=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="float32"):
        generator.generate(frames.float(), PROMPTS, None, seeds=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="3 values for 4 rows"):
        generator.generate(frames, PROMPTS, None, seeds=[0, 1, 2])
    with pytest.raises(ValueError, match="seed -1"):
        generator.generate(frames, PROMPTS, None, seeds=[0, 1, 2, -1])
    with pytest.raises(ValueError, match="batch_size=0"):
        generator.generate(frames, PROMPTS, None, seeds=[0, 1, 2, 3], batch_size=0)


def test_latent_scaling_round_trips_and_maps_silence_to_minus_one(generator):
    audio = generator.config.audio
    log_mel = torch.linspace(-11.0, 2.0, 50)
    torch.testing.assert_close(latent_to_log_mel(log_mel_to_latent(log_mel, audio), audio), log_mel)
    silence = torch.tensor(audio.log_floor).log()
    torch.testing.assert_close(log_mel_to_latent(silence, audio), torch.tensor(-1.0))


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("where", ["file", "memory"])
def test_checkpoint_round_trip_generates_the_same_audio(generator, frames, text_encoder, tmp_path, where):
    uri = str(tmp_path / "g.safetensors") if where == "file" else f"memory://talkie-tests/{where}.safetensors"
    sha = save_checkpoint(uri, generator.network.state_dict(), generator.config)
    loaded = load_generator(uri, device="cpu", text_encoder=text_encoder, vocoder=generator.vocoder)
    assert loaded.checkpoint_sha256 == sha and loaded.config == generator.config
    expected = generator.generate(frames[:2], PROMPTS[:2], None, seeds=[8, 9], batch_size=2)
    assert torch.equal(loaded.generate(frames[:2], PROMPTS[:2], None, seeds=[8, 9], batch_size=2), expected)


def test_checkpoint_that_does_not_fit_its_config_is_refused(generator, text_encoder, tmp_path):
    state = dict(generator.network.state_dict())
    state.pop("null_video")
    uri = str(tmp_path / "broken.safetensors")
    save_checkpoint(uri, state, generator.config)
    with pytest.raises(ValueError, match="null_video"):
        load_generator(uri, device="cpu", text_encoder=text_encoder)


def test_default_checkpoint_is_the_shipped_tiny_weights():
    assert generate_module.DEFAULT_CHECKPOINT.parts[-3:] == ("model", "weights", "tiny.safetensors")


def test_missing_default_checkpoint_says_where_and_how(monkeypatch, tmp_path):
    missing = tmp_path / "model" / "weights" / "tiny.safetensors"
    monkeypatch.setattr(generate_module, "DEFAULT_CHECKPOINT", missing)
    with pytest.raises(FileNotFoundError, match=r"model/weights/tiny\.safetensors.*pass a checkpoint"):
        load_generator()


def test_from_config_seed_sets_the_weights(text_encoder):
    config = small_config()
    a, b, c = (Generator.from_config(config, s, text_encoder=text_encoder, device="cpu") for s in (1, 1, 2))
    weight = lambda g: g.network.patch_in.weight  # noqa: E731
    assert torch.equal(weight(a), weight(b)) and not torch.equal(weight(a), weight(c))


def test_dropping_the_video_makes_the_picture_irrelevant(generator, frames):
    other = torch.flip(frames, dims=[0])
    dropped = [
        generator.generate(f[:2], PROMPTS[:2], None, seeds=[2, 3], batch_size=2, use_video=False)
        for f in (frames, other)
    ]
    assert torch.equal(dropped[0], dropped[1])
    seen = [generator.generate(f[:2], PROMPTS[:2], None, seeds=[2, 3], batch_size=2) for f in (frames, other)]
    assert (seen[0] - seen[1]).abs().max() > 1e-3
