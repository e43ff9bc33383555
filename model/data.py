"""Training shards: the safetensors files the featurize job writes, and a dataset that reads them.

A shard holds N training windows of one model config (``pipelines/featurize.py``):

    frames        (N, T, H, W) uint8    grayscale frames at the config's fps and size; zero past valid_frames
    mel           (N, n_mels, F) float16 log-mel of the film's own audio (``model.mel.MelSpectrogram``)
    valid_frames  (N,) int64            video frames that lie inside the film (T for a full window)
    valid_mel     (N,) int64            mel frames that lie inside the film (F for a full window)

and one metadata entry, ``talkie``, a JSON object: ``format``, ``config_hash``, ``config`` (the
ModelConfig JSON), and per-window lists ``film_ids``, ``uris``, ``window_index``, ``start_s``
(seconds from the film's first frame), ``valid_s``, ``captions`` and ``events`` (each a list of
``{"offset_s", "time_s", "class", "fine"}``; offset from the window's start, time from the film's;
``null`` where the events are unknown: a film without a truth record beside it).

Shards are read whole from a local path or any fsspec URI, one at a time, so memory is bounded by
a shard. Nothing here imports Beam.
"""

from __future__ import annotations

import glob as globlib
import json
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import torch
from safetensors.numpy import load as load_numpy
from safetensors.numpy import save as save_numpy

SHARD_FORMAT = "talkie.shard/1"
METADATA_KEY = "talkie"
TENSORS = ("frames", "mel", "valid_frames", "valid_mel")
# metadata list -> the key of one window's value in ``Shard.example``
_EXAMPLE_NAMES = {
    "film_ids": "film_id",
    "uris": "uri",
    "window_index": "window_index",
    "start_s": "start_s",
    "valid_s": "valid_s",
    "captions": "caption",
    "events": "events",
}
PER_WINDOW_META = tuple(_EXAMPLE_NAMES)


# ----------------------------------------------------------------------------- the format


def encode_shard(
    frames: np.ndarray, mel: np.ndarray, valid_frames: np.ndarray, valid_mel: np.ndarray, meta: dict[str, Any]
) -> bytes:
    """The bytes of one shard; checks shapes, dtypes and that every per-window list has N entries."""
    n = frames.shape[0]
    checks = {
        "frames": (frames, np.uint8, 4),
        "mel": (mel, np.float16, 3),
        "valid_frames": (valid_frames, np.int64, 1),
        "valid_mel": (valid_mel, np.int64, 1),
    }
    for name, (array, dtype, ndim) in checks.items():
        if array.dtype != dtype or array.ndim != ndim or array.shape[0] != n:
            raise ValueError(
                f"shard tensor {name} is {array.dtype} {array.shape}; expected {np.dtype(dtype)} with "
                f"{ndim} dimensions and {n} rows"
            )
    for key in PER_WINDOW_META:
        if len(meta.get(key, ())) != n:
            raise ValueError(f"shard metadata {key!r} has {len(meta.get(key, ()))} entries; expected {n}")
    text = json.dumps(
        {"format": SHARD_FORMAT, **meta}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    tensors = {
        "frames": np.ascontiguousarray(frames),
        "mel": np.ascontiguousarray(mel),
        "valid_frames": np.ascontiguousarray(valid_frames),
        "valid_mel": np.ascontiguousarray(valid_mel),
    }
    return save_numpy(tensors, metadata={METADATA_KEY: text})


def _metadata_of(header: dict[str, Any], uri: str) -> dict[str, Any]:
    raw = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError(f"{uri}: not a Talkie shard (no {METADATA_KEY!r} metadata entry)")
    meta: dict[str, Any] = json.loads(raw)
    if meta.get("format") != SHARD_FORMAT:
        raise ValueError(f"{uri}: shard format {meta.get('format')!r}; this reader accepts {SHARD_FORMAT!r}")
    return meta


def read_shard_metadata(uri: str) -> dict[str, Any]:
    """A shard's metadata, reading only its header (8-byte length + JSON), not its tensors."""
    with fsspec.open(uri, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return _metadata_of(header, uri)


@dataclass(frozen=True)
class Shard:
    """One shard read whole: torch tensors and the metadata's per-window lists."""

    uri: str
    frames: torch.Tensor  # (N, T, H, W) uint8
    mel: torch.Tensor  # (N, n_mels, F) float16
    valid_frames: torch.Tensor  # (N,) int64
    valid_mel: torch.Tensor  # (N,) int64
    meta: dict[str, Any]

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def captions(self) -> list[str]:
        captions: list[str] = self.meta["captions"]
        return captions

    @property
    def events(self) -> list[list[dict[str, Any]] | None]:
        events: list[list[dict[str, Any]] | None] = self.meta["events"]
        return events

    def example(self, i: int) -> dict[str, Any]:
        """Window ``i`` as a dict of tensors and its metadata."""
        return {
            "frames": self.frames[i],
            "mel": self.mel[i],
            "valid_frames": int(self.valid_frames[i]),
            "valid_mel": int(self.valid_mel[i]),
            **{name: self.meta[key][i] for key, name in _EXAMPLE_NAMES.items()},
        }


def read_shard(uri: str) -> Shard:
    """The whole shard at ``uri`` (local path or fsspec URI)."""
    with fsspec.open(uri, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    meta = _metadata_of(json.loads(data[8 : 8 + length]), uri)
    arrays = load_numpy(data)
    missing = [name for name in TENSORS if name not in arrays]
    if missing:
        raise ValueError(f"{uri}: shard lacks tensors {missing}; a shard holds {list(TENSORS)}")
    # torch.from_numpy shares memory; the arrays from safetensors are writable copies.
    return Shard(uri=uri, meta=meta, **{name: torch.from_numpy(arrays[name]) for name in TENSORS})


def shard_uris(spec: str | Sequence[str]) -> list[str]:
    """Shard files named by ``spec``: a list of URIs, a glob, a shard, or a featurize output folder.

    A folder means ``<folder>/shards/*.safetensors``. The result is sorted, so it is the same
    on every machine.
    """
    if not isinstance(spec, str):
        uris = [str(u) for u in spec]
        if not uris:
            raise ValueError("no shard URIs given")
        return sorted(uris)
    if spec.endswith(".safetensors") and not any(c in spec for c in "*?["):
        return [spec]
    pattern = spec if any(c in spec for c in "*?[") else spec.rstrip("/") + "/shards/*.safetensors"
    if "://" in pattern and not pattern.startswith("file://"):
        fs, path = fsspec.core.url_to_fs(pattern)
        found = sorted(fs.unstrip_protocol(p) for p in fs.glob(path))
    else:
        local = pattern[len("file://") :] if pattern.startswith("file://") else pattern
        found = sorted(p for p in globlib.glob(local) if os.path.isfile(p))
    if not found:
        raise FileNotFoundError(
            f"no shard matches {pattern!r}; give shard files, a glob, or a featurize --output folder"
        )
    return found


# ----------------------------------------------------------------------------- the dataset


class ShardDataset(torch.utils.data.IterableDataset[dict[str, Any]]):
    """Training windows from featurize shards, one shard in memory at a time.

    Iterating yields one dict per window: ``frames`` (T, H, W) uint8, ``mel`` (n_mels, F) float16,
    ``valid_frames``, ``valid_mel``, ``caption``, ``events``, ``film_id``, ``uri``,
    ``window_index``, ``start_s``, ``valid_s``. With ``shuffle``, shard order and the order
    inside each shard are permuted by a generator seeded with ``(seed, epoch)``, so an epoch's
    order is reproducible; ``set_epoch`` moves to the next one. Under a DataLoader with several
    workers each worker reads every ``num_workers``-th shard of the epoch's order.
    """

    def __init__(
        self,
        shards: str | Sequence[str],
        *,
        shuffle: bool = False,
        seed: int = 0,
        config_hash: str | None = None,
    ) -> None:
        super().__init__()
        self.uris = shard_uris(shards)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0
        self.config_hash = config_hash

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _order(self) -> tuple[np.random.Generator | None, list[str]]:
        if not self.shuffle:
            return None, list(self.uris)
        rng = np.random.default_rng([self.seed, self.epoch])
        return rng, [self.uris[i] for i in rng.permutation(len(self.uris))]

    def shards(self) -> Iterator[Shard]:
        """This worker's shards in the epoch's order, each checked against ``config_hash``."""
        _, uris = self._order()
        info = torch.utils.data.get_worker_info()
        if info is not None:
            uris = uris[info.id :: info.num_workers]
        for uri in uris:
            shard = read_shard(uri)
            if self.config_hash is not None and shard.meta.get("config_hash") != self.config_hash:
                raise ValueError(
                    f"{uri}: shard has config_hash {shard.meta.get('config_hash')!r}; this dataset "
                    f"expects {self.config_hash!r} (featurize again with the model's config)"
                )
            yield shard

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rng, _ = self._order()
        for shard in self.shards():
            rows = rng.permutation(len(shard)) if rng is not None else np.arange(len(shard))
            for i in rows:
                yield shard.example(int(i))

    def batches(self, batch_size: int, *, drop_last: bool = False) -> Iterator[dict[str, Any]]:
        """Stacked batches: frames (B, T, H, W) uint8, mel (B, n_mels, F) float16, valid_* (B,),
        and lists for captions, events, film_ids, start_s."""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: need 1 or more")
        pending: list[dict[str, Any]] = []
        for example in self:
            pending.append(example)
            if len(pending) == batch_size:
                yield collate(pending)
                pending = []
        if pending and not drop_last:
            yield collate(pending)


def collate(examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Examples from ``ShardDataset`` as one batch (tensors stacked, the rest as lists)."""
    return {
        "frames": torch.stack([e["frames"] for e in examples]),
        "mel": torch.stack([e["mel"] for e in examples]),
        "valid_frames": torch.tensor([e["valid_frames"] for e in examples], dtype=torch.int64),
        "valid_mel": torch.tensor([e["valid_mel"] for e in examples], dtype=torch.int64),
        "captions": [e["caption"] for e in examples],
        "events": [e["events"] for e in examples],
        "film_ids": [e["film_id"] for e in examples],
        "start_s": [e["start_s"] for e in examples],
    }
