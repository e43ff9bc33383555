"""model.data: the shard format round trip and ShardDataset's order, batches and checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.data import ShardDataset, collate, encode_shard, read_shard, read_shard_metadata, shard_uris


def _shard(n: int, first: int, config_hash: str = "abc") -> tuple[bytes, dict]:
    rng = np.random.default_rng(first)
    arrays = {
        "frames": rng.integers(0, 256, (n, 8, 6, 5), dtype=np.uint8),  # (N, T, H, W)
        "mel": rng.normal(size=(n, 4, 12)).astype(np.float16),  # (N, n_mels, F)
        "valid_frames": np.full(n, 8, np.int64),
        "valid_mel": np.arange(n, dtype=np.int64) + 5,
    }
    meta = {
        "config_hash": config_hash,
        "config": "{}",
        "film_ids": [f"film{first + i}" for i in range(n)],
        "uris": [f"/films/{first + i}.mp4" for i in range(n)],
        "window_index": list(range(n)),
        "start_s": [0.5 * i for i in range(n)],
        "valid_s": [4.0] * n,
        "captions": [f"caption {first + i}" for i in range(n)],
        "events": [
            [{"offset_s": 0.25, "time_s": 0.25 + 0.5 * i, "class": "impact", "fine": "wood"}]
            for i in range(n)
        ],
    }
    data = encode_shard(arrays["frames"], arrays["mel"], arrays["valid_frames"], arrays["valid_mel"], meta)
    return data, {**arrays, **meta}


@pytest.fixture
def shards(tmp_path) -> dict[str, dict]:
    written = {}
    for k, (n, first) in enumerate([(3, 0), (2, 100), (4, 200)]):
        data, content = _shard(n, first)
        path = tmp_path / "shards" / f"run-{k:05d}.safetensors"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        written[str(path)] = content
    return written


def test_round_trip_keeps_tensors_and_metadata(shards):
    for uri, content in shards.items():
        shard = read_shard(uri)
        for name in ("frames", "mel", "valid_frames", "valid_mel"):
            assert getattr(shard, name).dtype == torch.from_numpy(content[name]).dtype
            np.testing.assert_array_equal(getattr(shard, name).numpy(), content[name])
        assert shard.captions == content["captions"] and shard.events == content["events"]
        assert read_shard_metadata(uri)["film_ids"] == content["film_ids"]


def test_fsspec_uris_read_like_local_files(shards):
    import fsspec

    uri, content = next(iter(shards.items()))
    with open(uri, "rb") as f, fsspec.open("memory://talkie-test/shards/x.safetensors", "wb") as out:
        out.write(f.read())
    shard = read_shard("memory://talkie-test/shards/x.safetensors")
    np.testing.assert_array_equal(shard.frames.numpy(), content["frames"])
    (found,) = shard_uris("memory://talkie-test/shards/*.safetensors")
    assert found.startswith("memory://") and found.endswith("talkie-test/shards/x.safetensors")
    assert read_shard(found).captions == content["captions"]


def test_dataset_in_order_and_seeded_shuffle(shards, tmp_path):
    ordered = ShardDataset(str(tmp_path))  # a featurize output folder: <folder>/shards/*.safetensors
    captions = [e["caption"] for e in ordered]
    assert captions == sum((c["captions"] for c in shards.values()), [])
    shuffled = ShardDataset(str(tmp_path), shuffle=True, seed=3)
    epoch0 = [e["caption"] for e in shuffled]
    assert epoch0 == [e["caption"] for e in ShardDataset(str(tmp_path), shuffle=True, seed=3)]
    assert sorted(epoch0) == sorted(captions) and epoch0 != captions
    shuffled.set_epoch(1)
    assert [e["caption"] for e in shuffled] != epoch0
    first = next(iter(ordered))
    assert first["film_id"] == "film0" and first["valid_mel"] == 5 and first["frames"].shape == (8, 6, 5)


def test_batches_stack_tensors_and_list_the_rest(shards, tmp_path):
    batches = list(ShardDataset(str(tmp_path)).batches(4))
    assert [b["frames"].shape[0] for b in batches] == [4, 4, 1]
    assert batches[0]["mel"].shape == (4, 4, 12) and batches[0]["mel"].dtype == torch.float16
    assert batches[0]["captions"] == ["caption 0", "caption 1", "caption 2", "caption 100"]
    assert batches[0]["valid_mel"].tolist() == [5, 6, 7, 5]
    assert len(list(ShardDataset(str(tmp_path)).batches(4, drop_last=True))) == 2
    assert collate([next(iter(ShardDataset(str(tmp_path))))])["frames"].shape == (1, 8, 6, 5)


def test_config_hash_mismatch_and_bad_shards_are_refused(shards, tmp_path):
    with pytest.raises(ValueError, match="config_hash 'abc'.*expects 'other'"):
        next(iter(ShardDataset(str(tmp_path), config_hash="other")))
    with pytest.raises(FileNotFoundError, match="no shard matches"):
        ShardDataset(str(tmp_path / "nothing"))
    frames = np.zeros((2, 8, 6, 5), np.uint8)
    mel32 = np.zeros((2, 4, 12), np.float32)
    with pytest.raises(ValueError, match="mel is float32"):
        encode_shard(frames, mel32, np.zeros(2, np.int64), np.zeros(2, np.int64), {})
    with pytest.raises(ValueError, match="'film_ids' has 0 entries; expected 2"):
        encode_shard(frames, mel32.astype(np.float16), np.zeros(2, np.int64), np.zeros(2, np.int64), {})
