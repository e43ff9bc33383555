"""model.train on a real (tiny) corpus: two foley-world films rendered and featurized here."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model.augment import damage_frames, mirror_frames
from model.checkpoint import load_checkpoint
from model.conditioning import PrecomputedTextEncoder, TextEncoder, save_text_embeddings
from model.config import ModelConfig, preset
from model.data import collate, encode_shard, read_shard
from model.generate import load_generator
from model.losses import EVENT_SPAN, event_frame_weights, onset_loss, onset_targets, rectified_flow_loss
from model.mel import MelSpectrogram
from model.networks import build_network
from model.train import main
from model.train_loop import check_shards, train
from model.train_state import load_training_state
from model.trainer import Trainer, TrainSettings, sample_t
from model.vocoders.griffin_lim import GriffinLim

# hyperparameters for runs of a few dozen steps: no long warmup, a rate that moves a tiny network
FAST = dict(lr=2e-3, warmup_steps=2, log_every=5, save_every=1000)


def small_config() -> ModelConfig:
    """The tiny preset shrunk: 1 s windows (64 mel frames), 8 frames of 16x16, a 32-wide 2-block DiT."""
    tiny = preset("tiny")
    return replace(
        tiny,
        video=replace(tiny.video, fps=8, height=16, width=16),
        network=replace(tiny.network, width=32, depth=2, heads=2),
        window=replace(tiny.window, window_s=1.0, overlap_s=0.25),
    )


CONFIG = small_config()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: these networks are too small to gain from more, and on a busy 2-core
    machine OpenMP threads that wait for each other make a step 100x slower (measured: 10 ms vs 1.3 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def shard(tmp_path_factory) -> str:
    """Two 2-2.5 s single-shot foley films (impacts, footsteps) cut into 1 s windows, one shard."""
    from model.synth import SynthConfig, write_collection
    from transforms.featurize import cut_film, featurize_window, shard_metadata
    from transforms.manifest import FilmJob

    folder = tmp_path_factory.mktemp("train_corpus")
    synth = SynthConfig(
        width=64,
        height=48,
        min_shots=1,
        max_shots=1,
        shot_seconds=(2.0, 2.5),
        classes=("impact", "footsteps"),
        fade_prob=0.0,
    )
    rows = write_collection(folder / "films", films=2, seed=5, config=synth, workers=1)
    mel = MelSpectrogram(CONFIG.audio).eval()

    def mel_fn(audio: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return mel(torch.from_numpy(audio)[None])[0].numpy()

    examples = []
    for row in rows:
        job = FilmJob(
            video_input=str(folder / "films" / row["video_input"]),
            film_id=row["film_id"],
            positive_prompt=row["positive_prompt"],
            negative_prompt=None,
            takes=None,
            seed=None,
            scenes=(),
            extra="{}",
        )
        examples += [featurize_window(w, CONFIG, mel_fn) for w in cut_film(job, row["film_id"], CONFIG)]
    data = encode_shard(
        np.stack([e.frames for e in examples]),
        np.stack([e.mel for e in examples]),
        np.array([e.valid_frames for e in examples], np.int64),
        np.array([e.valid_mel for e in examples], np.int64),
        shard_metadata(examples, CONFIG),
    )
    path = folder / "shards" / "run-00000.safetensors"
    path.parent.mkdir()
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def text_encoder() -> TextEncoder:
    return TextEncoder()


@pytest.fixture(scope="module")
def batch(shard) -> dict:
    loaded = read_shard(shard)
    assert len(loaded) >= 4
    return collate([loaded.example(i) for i in range(4)])


@pytest.fixture(scope="module")
def runs(shard, text_encoder, tmp_path_factory):
    """20 steps straight, and 10 steps then 10 more resumed, on the same seed and schedule."""
    folder = tmp_path_factory.mktemp("runs")
    common = dict(
        steps=20, batch_size=4, seed=3, device="cpu", text_encoder=text_encoder, progress=False, **FAST
    )
    straight = train(CONFIG, shard, str(folder / "straight.safetensors"), **common)
    first = train(CONFIG, shard, str(folder / "split.safetensors"), session_steps=10, **common)
    after_ten = load_checkpoint(first.checkpoint).state_dict
    second = train(CONFIG, shard, str(folder / "split.safetensors"), resume=True, **common)
    return straight, first, second, after_ten


def test_training_reduces_the_loss_on_a_fixed_batch(batch, text_encoder):
    trainer = Trainer(
        CONFIG, TrainSettings(steps=40, batch_size=4, damage_prob=0.0, **FAST), text_encoder=text_encoder
    )

    def evaluate() -> float:  # fixed draws (steps 10_000..10_002), the same before and after
        return float(np.mean([trainer.loss(batch, 10_000 + k, augment=False).item() for k in range(3)]))

    initial = evaluate()
    losses = [trainer.train_step(batch)[0] for _ in range(40)]
    final = evaluate()
    assert final < 0.6 * initial, (initial, final)
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5])


def test_saved_checkpoint_generates_a_window_of_audio(runs, batch, text_encoder):
    straight, _, _, _ = runs
    generator = load_generator(
        straight.checkpoint,
        text_encoder=text_encoder,
        vocoder=GriffinLim(CONFIG.audio, iterations=4),
        device="cpu",
    )
    assert generator.config == CONFIG
    audio = generator.generate(
        batch["frames"][:1], batch["captions"][:1], None, seeds=[0], steps=2, batch_size=1
    )
    assert audio.shape == (1, CONFIG.window_samples) and torch.isfinite(audio).all()
    assert audio.abs().max() > 0
    assert load_checkpoint(straight.checkpoint).metadata["train_step"] == "20"


def test_resuming_gives_the_same_weights_as_training_straight(runs):
    straight, first, second, after_ten = runs
    assert (first.stopped_by, first.step, second.step, straight.step) == ("session_steps", 10, 20, 20)
    assert first.losses + second.losses == straight.losses
    a, b = load_checkpoint(straight.checkpoint).state_dict, load_checkpoint(second.checkpoint).state_dict
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    state_a, meta_a = load_training_state(straight.state)
    state_b, meta_b = load_training_state(second.state)
    assert meta_a["cursor"] == meta_b["cursor"] and meta_b["step"] == 20
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a if not k.startswith("rng."))
    log = [json.loads(line) for line in Path(second.log).read_text().splitlines()]
    assert [r["step"] for r in log] == [5, 10, 15, 20]
    # a different start really is different, so the equality above can fail
    assert any(not torch.equal(a[k], after_ten[k]) for k in a)


def test_the_model_file_holds_the_ema_which_differs_from_the_raw_weights(runs):
    straight, _, _, _ = runs
    state, _ = load_training_state(straight.state)
    model = load_checkpoint(straight.checkpoint).state_dict
    assert all(torch.equal(model[k], state[f"ema.{k}"]) for k in model)
    differing = [k for k in model if not torch.equal(state[f"ema.{k}"], state[f"model.{k}"])]
    assert len(differing) > len(model) // 2
    moments = [k for k in state if k.startswith("optim.") and k.endswith(".exp_avg_sq")]
    assert len(moments) == len(model)


def test_padding_does_not_contribute_to_the_loss(batch, text_encoder):
    trainer = Trainer(CONFIG, TrainSettings(steps=10, batch_size=4), text_encoder=text_encoder)
    cut = CONFIG.window_frames // 2
    padded = {
        **batch,
        "valid_mel": torch.full((4,), cut),
        "valid_frames": torch.full((4,), CONFIG.video_frames // 2),
    }
    changed = dict(padded)
    changed["mel"] = padded["mel"].clone()
    changed["mel"][:, :, cut:] = torch.randn(changed["mel"][:, :, cut:].shape).half()
    changed["frames"] = padded["frames"].clone()
    changed["frames"][:, CONFIG.video_frames // 2 :] = 255
    reference = trainer.loss(padded, 7)
    assert torch.equal(trainer.loss(changed, 7), reference)
    inside = dict(padded)
    inside["mel"] = padded["mel"].clone()
    inside["mel"][:, :, : cut // 2] += 1.0
    assert not torch.equal(trainer.loss(inside, 7), reference)


def test_damage_changes_frames_but_keeps_shapes(batch):
    frames, valid = batch["frames"], torch.tensor([8, 8, 5, 8])
    frames = frames.clone()
    frames[2, 5:] = 0
    damaged = damage_frames(frames, valid, 0, fps=8, prob=1.0)
    assert damaged.shape == frames.shape and damaged.dtype == torch.uint8
    assert all(not torch.equal(damaged[i], frames[i]) for i in range(4))
    assert torch.equal(damaged[2, 5:], frames[2, 5:])  # padding untouched
    again = damage_frames(frames, valid, 0, fps=8, prob=1.0)
    assert torch.equal(again, damaged)
    assert not torch.equal(damage_frames(frames, valid, 1, fps=8, prob=1.0), damaged)
    assert torch.equal(damage_frames(frames, valid, 0, fps=8, prob=0.0), frames)


def test_a_clips_damage_depends_on_its_row_not_on_the_rest_of_the_batch(batch):
    frames, valid = batch["frames"], torch.full((4,), 8)
    whole = damage_frames(frames, valid, 5, fps=8, prob=0.5, hold_prob=0.5)
    other = frames.clone()
    other[0] = 255 - other[0]  # row 0 changes; rows 1-3 keep their damage
    again = damage_frames(other, valid, 5, fps=8, prob=0.5, hold_prob=0.5)
    assert all(torch.equal(again[i], whole[i]) for i in (1, 2, 3))


def test_damage_in_worker_processes_is_the_same_damage(batch):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    frames, valid = batch["frames"], torch.tensor([8, 8, 5, 8])
    here = damage_frames(frames, valid, 11, fps=8, prob=1.0, hold_prob=0.5)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        there = damage_frames(frames, valid, 11, fps=8, prob=1.0, hold_prob=0.5, map_clips=pool.map)
    assert torch.equal(here, there) and not torch.equal(here, frames)


def test_mirroring_flips_chosen_clips_left_to_right(batch):
    frames = batch["frames"]
    assert torch.equal(mirror_frames(frames, np.random.default_rng(0), prob=0.0), frames)
    assert torch.equal(mirror_frames(frames, np.random.default_rng(0), prob=1.0), frames.flip(-1))
    chosen = np.random.default_rng(3).random(frames.shape[0]) < 0.5
    mirrored = mirror_frames(frames, np.random.default_rng(3), prob=0.5)
    for row, flipped in enumerate(chosen):
        assert torch.equal(mirrored[row], frames[row].flip(-1) if flipped else frames[row])


def test_mirrored_steps_keep_the_sound_events_and_noise(batch, text_encoder):
    plain = Trainer(
        CONFIG, TrainSettings(steps=10, batch_size=4, damage_prob=0.0, **FAST), text_encoder=text_encoder
    )
    mirrored = Trainer(
        CONFIG,
        TrainSettings(steps=10, batch_size=4, damage_prob=0.0, flip_prob=1.0, **FAST),
        text_encoder=text_encoder,
    )
    a, b = plain.inputs(batch, 3), mirrored.inputs(batch, 3)
    torch.testing.assert_close(b.cond["video"], a.cond["video"].flip(-1), rtol=0, atol=0)
    for name in ("x1", "noise", "t", "onsets"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert torch.equal(a.cond["events"], b.cond["events"])
    assert not torch.equal(a.cond["video"], b.cond["video"])
    with pytest.raises(ValueError, match="flip_prob=1.5"):
        TrainSettings(steps=1, flip_prob=1.5)


def test_precomputed_embeddings_overwrite_guard_and_shard_check(shard, text_encoder, tmp_path, capsys):
    captions = read_shard(shard).captions
    embeddings = tmp_path / "captions.safetensors"
    save_text_embeddings(str(embeddings), text_encoder.embeddings(sorted(set(captions))))
    out = str(tmp_path / "m.safetensors")
    common = dict(steps=2, batch_size=2, device="cpu", progress=False, **FAST)
    result = train(CONFIG, shard, out, text_embeddings=str(embeddings), **common)
    assert result.step == 2 and Path(out).exists()
    with pytest.raises(FileExistsError, match="--resume"):
        train(CONFIG, shard, out, text_encoder=PrecomputedTextEncoder.load(str(embeddings)), **common)
    Path(out[: -len(".safetensors")] + ".train.safetensors").unlink()  # a model without its training state
    with pytest.raises(FileExistsError, match="without a training state"):
        train(CONFIG, shard, out, resume=True, text_encoder=text_encoder, **common)
    # the CLI's tiny preset wants 4 s windows of 64x64 frames: these 1 s shards are refused by name
    code = main(
        ["--shards", shard, "--out", str(tmp_path / "t.safetensors"), "--steps", "1", "--no_progress"]
    )
    assert code == 2 and "window.window_s=1.0" in capsys.readouterr().err


def test_shards_featurized_before_a_config_field_existed_still_train(shard, tmp_path):
    """A shard's config is read only for its data fields; one written before the sampler had
    negative_guidance passes, one with other windows is still refused."""
    loaded = read_shard(shard)

    def rewritten(name: str, edit) -> str:
        config = json.loads(loaded.meta["config"])
        edit(config)
        path = tmp_path / name
        tensors = (
            loaded.frames.numpy(),
            loaded.mel.numpy(),
            loaded.valid_frames.numpy(),
            loaded.valid_mel.numpy(),
        )
        path.write_bytes(encode_shard(*tensors, {**loaded.meta, "config": json.dumps(config)}))
        return str(path)

    older = rewritten("older.safetensors", lambda c: c["sampler"].pop("negative_guidance"))
    assert check_shards([older], CONFIG) == (len(loaded), list(dict.fromkeys(loaded.captions)))
    other = rewritten("other.safetensors", lambda c: c["window"].update(window_s=2.0))
    with pytest.raises(ValueError, match="window.window_s=2.0"):
        check_shards([other], CONFIG)


def test_onset_targets_mark_the_frame_nearest_each_event():
    events = [[{"offset_s": 0.0}, {"offset_s": 0.30}, {"offset_s": 0.99}], [], [{"offset_s": 5.0}]]
    targets = onset_targets(events, frames=8, fps=8)
    assert targets.shape == (3, 8)
    # 0.30 s * 8 fps = 2.4 -> frame 2; 0.99 s -> 7.92 -> frame 8, past the window: dropped
    assert targets[0].nonzero().flatten().tolist() == [0, 2]
    assert targets[1].sum() == 0 and targets[2].sum() == 0


def test_gaussian_onset_targets_share_an_event_between_its_two_frames():
    # 8 fps: events at 2.5 frames (between 2 and 3), 5.0 frames, and 7.25 frames (near the end)
    events = [[{"offset_s": 2.5 / 8}, {"offset_s": 5.0 / 8}, {"offset_s": 7.25 / 8}], []]
    targets = onset_targets(events, frames=8, fps=8, sigma_frames=0.5)
    bump = lambda distance: float(np.exp(-0.5 * (distance / 0.5) ** 2))  # noqa: E731
    expected = [bump(2.5), bump(1.5), bump(0.5), bump(0.5), bump(1.0), 1.0, bump(1.0), bump(0.25)]
    torch.testing.assert_close(targets[0], torch.tensor(expected), rtol=0, atol=1e-6)
    assert targets[1].sum() == 0
    # sigma 0 is the one-hot target
    torch.testing.assert_close(onset_targets(events, 8, 8, sigma_frames=0.0), onset_targets(events, 8, 8))
    with pytest.raises(ValueError, match="onset_sigma_frames"):
        TrainSettings(steps=1, onset_sigma_frames=-0.5)


def test_a_head_at_the_gaussian_targets_optimum_marks_each_event_in_time():
    # The BCE optimum with positive weight w is p = w y / ((w - 1) y + 1); a head that reaches it
    # on sigma-0.5 targets puts the parabola's vertex within 3 ms of each event (16 fps), so the
    # event track lands on the mel frame nearest the true time (or, within 3 ms of a tie, its neighbour).
    config = preset("tiny")
    network = build_network(config)
    fps, rate, w = config.video.fps, config.audio.frame_rate, TrainSettings(steps=1).onset_pos_weight
    times = [(2 + k * (4 + 1 / 14)) / fps for k in range(14)]  # 4 frames apart, at every 14th of a frame
    targets = onset_targets([[{"offset_s": t} for t in times]], config.video_frames, fps, sigma_frames=0.5)
    probability = (w * targets / ((w - 1) * targets + 1)).clamp(1e-6, 1 - 1e-6)
    head = network.visual.onset_head
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.weight[0, 0] = 1.0
        features = torch.zeros(1, config.video_frames, network.width)
        features[0, :, 0] = torch.logit(probability[0])
        marks = network.predicted_events(features, config.window_frames, threshold=0.5)[0]
    marked = marks.nonzero().flatten().double() / rate
    assert len(marked) == len(times)
    for mark, time_s in zip(marked.tolist(), times, strict=True):
        assert abs(mark - time_s) <= 0.5 / rate + 0.003


def test_the_denoiser_is_handed_the_true_event_times_as_its_event_track(batch, text_encoder):
    trainer = Trainer(CONFIG, TrainSettings(steps=10, batch_size=4, **FAST), text_encoder=text_encoder)
    inputs = trainer.inputs(batch, 0)
    track = inputs.cond["events"]
    assert track.shape == (4, CONFIG.window_frames)
    rate = CONFIG.audio.frame_rate
    for row, events in enumerate(batch["events"]):
        expected = sorted(
            {
                round(e["offset_s"] * rate)
                for e in events
                if round(e["offset_s"] * rate) < CONFIG.window_frames
            }
        )
        assert track[row].nonzero().flatten().tolist() == expected
    assert track.sum() > 0  # the fixture's impacts and footsteps put events in these windows


def test_onset_loss_ignores_frames_outside_the_film():
    logits = torch.zeros(1, 4)
    targets = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    inside = torch.tensor([[True, True, False, False]])
    reference = onset_loss(logits, targets, inside, pos_weight=3.0)
    changed = logits.clone()
    changed[0, 2:] = 50.0  # wildly wrong, but outside the film
    assert torch.equal(onset_loss(changed, targets, inside, pos_weight=3.0), reference)
    # log 2 per frame, the event frame weighted 3: (3 log 2 + log 2) / 2
    assert reference.item() == pytest.approx(2 * np.log(2), rel=1e-6)
    better = logits.clone()
    better[0, 0] = 4.0
    assert onset_loss(better, targets, inside, pos_weight=3.0) < reference


def test_preparing_the_next_step_on_a_thread_gives_the_same_weights(
    runs, shard, text_encoder, tmp_path, monkeypatch
):
    import model.train_loop as train_module

    class Overlapping(train_module.StepPrefetcher):
        def __init__(self, prepare, *, overlap):
            super().__init__(prepare, overlap=True)  # the CUDA path, here on the CPU

    monkeypatch.setattr(train_module, "StepPrefetcher", Overlapping)
    common = dict(
        steps=20, batch_size=4, seed=3, device="cpu", text_encoder=text_encoder, progress=False, **FAST
    )
    threaded = train(CONFIG, shard, str(tmp_path / "threaded.safetensors"), **common)
    straight = runs[0]
    a, b = load_checkpoint(straight.checkpoint).state_dict, load_checkpoint(threaded.checkpoint).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_damage_workers_give_the_same_weights(runs, shard, text_encoder, tmp_path):
    common = dict(
        steps=20, batch_size=4, seed=3, device="cpu", text_encoder=text_encoder, progress=False, **FAST
    )
    pooled = train(CONFIG, shard, str(tmp_path / "pooled.safetensors"), damage_workers=2, **common)
    a, b = load_checkpoint(runs[0].checkpoint).state_dict, load_checkpoint(pooled.checkpoint).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="damage_workers=-1"):
        train(CONFIG, shard, str(tmp_path / "refused.safetensors"), damage_workers=-1, **common)


def test_damage_workers_start_only_where_there_is_damage(text_encoder):
    trainer = Trainer(CONFIG, TrainSettings(steps=10, batch_size=4, **FAST), text_encoder=text_encoder)
    assert trainer.start_damage_workers() == 0  # the CPU default: the calling thread
    with pytest.raises(ValueError, match="damage_workers=-1"):
        trainer.start_damage_workers(-1)
    plain = Trainer(
        CONFIG, TrainSettings(steps=10, batch_size=4, damage_prob=0.0, **FAST), text_encoder=text_encoder
    )
    assert plain.start_damage_workers(2) == 0  # nothing to damage
    assert trainer.start_damage_workers(1) == 1
    trainer.stop_damage_workers()


def test_step_prefetcher_prepares_steps_in_order_either_way():
    from model.train_loop import StepPrefetcher

    for overlap in (False, True):
        seen = []

        def prepare(step, seen=seen):
            seen.append(step)
            return step * 10

        prefetch = StepPrefetcher(prepare, overlap=overlap)
        prefetch.start(0)
        got = [prefetch.take(1), prefetch.take(2), prefetch.take(None)]
        prefetch.close()
        assert got == [0, 10, 20] and seen == [0, 1, 2]


def test_event_frame_weights_raise_the_span_around_each_mark():
    marks = torch.zeros(2, 20)
    marks[0, 5] = 1.0
    marks[0, 19] = 1.0  # near the end: the span is cut at the window's edge
    weights = event_frame_weights(marks, 4.0)
    before, after = EVENT_SPAN
    expected = torch.ones(2, 20)
    expected[0, 5 - before : 5 + after + 1] = 4.0
    expected[0, 19 - before :] = 4.0
    assert torch.equal(weights, expected)
    assert torch.equal(event_frame_weights(marks, 1.0), torch.ones(2, 20))


class _Zero(torch.nn.Module):
    def forward(self, x, t, cond):
        return torch.zeros_like(x)


def test_flow_loss_frame_weights_form_a_weighted_mean():
    # a zero prediction leaves the error (x1 - noise)^2; with x1 = 0 and noise 1 on frame 0, 2 elsewhere
    x1 = torch.zeros(1, 3, 4)
    noise = torch.tensor([1.0, 2.0, 2.0, 2.0]).expand(1, 3, 4).clone()
    t, valid = torch.full((1,), 0.5), torch.tensor([3])  # frame 3 lies past the film
    plain = rectified_flow_loss(_Zero(), x1, valid, {}, t, noise)
    assert plain.item() == pytest.approx((1 + 4 + 4) / 3)
    weights = torch.tensor([[5.0, 1.0, 1.0, 9.0]])
    weighted = rectified_flow_loss(_Zero(), x1, valid, {}, t, noise, frame_weights=weights)
    assert weighted.item() == pytest.approx((5 * 1 + 4 + 4) / 7)
    with pytest.raises(ValueError, match="event_flow_weight"):
        TrainSettings(steps=1, event_flow_weight=0.5)


def test_sample_t_mixes_in_uniform_times_and_draws_nothing_extra_without_them():
    plain = TrainSettings(steps=1)
    draws = sample_t(20000, plain, torch.Generator().manual_seed(3))
    assert torch.equal(draws, torch.sigmoid(torch.randn(20000, generator=torch.Generator().manual_seed(3))))
    assert (draws > 0.9).float().mean() < 0.03  # the logit-normal leaves the low-noise end nearly empty
    mixed = sample_t(20000, TrainSettings(steps=1, t_uniform_prob=0.5), torch.Generator().manual_seed(3))
    assert ((mixed > 0) & (mixed < 1)).all()
    # half uniform: 0.5 * 0.1 + 0.5 * P(logit-normal > 0.9) of the rows lie above 0.9
    assert 0.05 < (mixed > 0.9).float().mean() < 0.07
    assert torch.equal(
        mixed, sample_t(20000, TrainSettings(steps=1, t_uniform_prob=0.5), torch.Generator().manual_seed(3))
    )


def test_the_trainer_weighs_the_flow_loss_around_true_events(batch, text_encoder):
    uniform = Trainer(CONFIG, TrainSettings(steps=10, batch_size=4, **FAST), text_encoder=text_encoder)
    weighted = Trainer(
        CONFIG,
        TrainSettings(steps=10, batch_size=4, event_flow_weight=4.0, **FAST),
        text_encoder=text_encoder,
    )
    weighted.network.load_state_dict(uniform.network.state_dict())
    assert batch["events"] and any(batch["events"])  # the fixture's windows hold events
    assert not torch.equal(uniform.loss(batch, 3), weighted.loss(batch, 3))


def test_init_starts_a_new_run_from_a_checkpoints_weights(runs, shard, text_encoder, tmp_path):
    straight, _, _, _ = runs
    start = load_checkpoint(straight.checkpoint).state_dict
    # a rate so small that two AdamW steps move no weight by more than ~1e-8: the result is the start
    common = dict(
        steps=2,
        batch_size=4,
        seed=9,
        device="cpu",
        text_encoder=text_encoder,
        progress=False,
        lr=1e-9,
        warmup_steps=0,
        log_every=1,
        save_every=1000,
    )
    tuned = train(CONFIG, shard, str(tmp_path / "tuned.safetensors"), init=straight.checkpoint, **common)
    fresh = train(CONFIG, shard, str(tmp_path / "fresh.safetensors"), **common)
    after, after_fresh = load_checkpoint(tuned.checkpoint), load_checkpoint(fresh.checkpoint).state_dict
    assert tuned.step == 2 and after.metadata["train_init"] == straight.checkpoint
    assert all(torch.allclose(after.state_dict[k], start[k], atol=1e-6) for k in start)
    assert sum(not torch.allclose(after_fresh[k], start[k], atol=1e-3) for k in start) > len(start) // 2
    # the trained checkpoint's weights fit its batches better than the seed's fresh ones
    assert tuned.losses[0] < fresh.losses[0]


def test_init_refuses_another_config_and_the_cli_trains_the_checkpoints_own(runs, shard, tmp_path, capsys):
    straight, _, _, _ = runs
    other = replace(CONFIG, network=replace(CONFIG.network, depth=3))
    with pytest.raises(ValueError, match="fine-tune a checkpoint with its own config"):
        train(
            other, shard, str(tmp_path / "x.safetensors"), steps=1, init=straight.checkpoint, progress=False
        )
    # without --init the CLI's tiny preset refuses these 1 s shards; with it, the checkpoint's config trains
    out = str(tmp_path / "cli.safetensors")
    args = [
        "--shards",
        shard,
        "--out",
        out,
        "--steps",
        "1",
        "--batch",
        "2",
        "--no_progress",
        "--threads",
        "1",
    ]
    assert main([*args, "--init", straight.checkpoint]) == 0, capsys.readouterr().err
    assert load_checkpoint(out).config == load_checkpoint(straight.checkpoint).config
    assert main([*args, "--init", str(tmp_path / "missing.safetensors"), "--overwrite"]) == 2


def test_windows_with_unknown_events_teach_the_head_nothing_and_get_its_marks(batch, text_encoder):
    """events None (a sound film without a truth record) is not events [] (nothing lands there)."""
    trainer = Trainer(CONFIG, TrainSettings(steps=10, batch_size=4, **FAST), text_encoder=text_encoder)
    unknown = {**batch, "events": [None, *batch["events"][1:]]}
    inputs = trainer.inputs(unknown, 0, augment=False)
    assert inputs.events_known.tolist() == [False, True, True, True]
    assert inputs.onsets[0].sum() == 0 and inputs.cond["events"][0].sum() == 0

    seen = {}
    forward = trainer.network.forward

    def spy(x, t, cond):
        seen["events"] = cond["events"]
        return forward(x, t, cond)

    trainer.network.forward = spy
    # a head that fires everywhere, so the marks it hands the denoiser cannot be mistaken for none
    with torch.no_grad():
        trainer.network.visual.onset_head.bias.fill_(50.0)
        trainer.network.visual.onset_head.weight.zero_()
    trainer.losses(inputs)
    features = trainer.network.encode_video(inputs.cond["video"])
    marks = trainer.network.predicted_events(features, CONFIG.window_frames)
    assert marks[0].sum() > 0
    assert torch.equal(seen["events"][0], marks[0])
    assert torch.equal(seen["events"][1:], inputs.cond["events"][1:])  # the known rows keep their truth

    # the onset loss counts only the rows whose events are known
    flat = Trainer(CONFIG, TrainSettings(steps=10, batch_size=4, **FAST), text_encoder=text_encoder)
    with torch.no_grad():
        none_known = flat.inputs({**batch, "events": [None] * 4}, 0, augment=False)
        assert float(flat.losses(none_known)[1]) == 0.0
        all_known = flat.inputs(batch, 0, augment=False)
        assert float(flat.losses(all_known)[1]) > 0.0
