"""The files a training run keeps beside its model checkpoint: the training state and the loss log.

Files beside ``--out`` (``X.safetensors``):

    X.safetensors        the model: EMA weights, ``model.checkpoint.save_checkpoint`` format
    X.train.safetensors  training state: raw weights, EMA, AdamW moments, step, data cursor, RNG
                         states (tensors plus one JSON metadata entry; never pickle)
    X.train.jsonl        the loss log: one JSON object per ``log_every`` steps (step, loss, flow,
                         onset, lr, grad_norm, seconds)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from torch import Tensor

from media import storage
from model.checkpoint import SUFFIX
from model.trainer import Trainer

STATE_FORMAT = "talkie-train-state/1"
STATE_KEY = "talkie_train"


def sibling_paths(out: str) -> tuple[str, str]:
    """(training state, loss log) beside the model checkpoint ``out`` (``X.safetensors``)."""
    if not out.endswith(SUFFIX):
        raise ValueError(f"--out {out!r} must end in {SUFFIX!r} (the model is a safetensors checkpoint)")
    stem = out[: -len(SUFFIX)]
    return stem + ".train" + SUFFIX, stem + ".train.jsonl"


def save_training_state(uri: str, trainer: Trainer, meta: Mapping[str, Any]) -> None:
    """``trainer``'s state tensors and ``meta`` (step, cursor, settings, ...) to ``uri``."""
    from safetensors.torch import save

    text = json.dumps({"format": STATE_FORMAT, **meta}, sort_keys=True)
    tensors = {k: v.contiguous() for k, v in trainer.state_tensors().items()}
    storage.write_bytes(uri, save(tensors, metadata={STATE_KEY: text}))


def load_training_state(uri: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(state tensors, metadata) of a training state that ``save_training_state`` wrote."""
    from safetensors.torch import load

    data = storage.read_bytes(uri)
    length = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + length])
        meta: dict[str, Any] = json.loads((header.get("__metadata__") or {})[STATE_KEY])
    except (ValueError, KeyError, UnicodeDecodeError):
        raise ValueError(f"{uri} is not a Talkie training state (no {STATE_KEY!r} metadata)") from None
    if meta.get("format") != STATE_FORMAT:
        raise ValueError(
            f"{uri}: training state format {meta.get('format')!r}; this trainer reads {STATE_FORMAT!r}"
        )
    return load(data), meta


class LossLog:
    """JSON Lines of (step, loss, lr, seconds, grad_norm): appended as it goes on local disk,
    published whole at every save for object stores."""

    def __init__(self, uri: str, *, keep_through: int | None):
        self.uri = uri
        self.lines: list[str] = []
        if keep_through is not None and storage.exists(uri):  # resuming: drop steps that will be redone
            for line in storage.read_bytes(uri).decode("utf-8").splitlines():
                if line.strip() and json.loads(line)["step"] <= keep_through:
                    self.lines.append(line)
        self._file: IO[str] | None = None
        if storage.is_local(uri):
            storage.write_bytes(uri, self._text())
            self._file = open(storage.local_path(uri), "a", encoding="utf-8")

    def _text(self) -> bytes:
        return "".join(line + "\n" for line in self.lines).encode("utf-8")

    def add(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True)
        self.lines.append(line)
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()

    def publish(self) -> None:
        if self._file is None:
            storage.write_bytes(self.uri, self._text())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
