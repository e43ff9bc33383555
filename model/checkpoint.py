"""Checkpoints: safetensors files that carry their ``ModelConfig``; never pickle.

A checkpoint is a safetensors file (tensors plus a string-to-string metadata header) whose
metadata holds:

    format          "talkie-checkpoint"
    format_version  "2"
    config          ModelConfig.to_json()
    config_hash     ModelConfig.config_hash(), checked against the config text on load
    ...             any extra string metadata the caller adds (training step, data, ...)

Version 1 checkpoints (written before the negative prompt had its own guidance weight) still
load: their sampler settings gain ``negative_guidance = text_guidance - 1``, the weight the
negative prompt had when it replaced the unconditional text, so they generate as they did.

Pickle-based formats (``torch.save``'s .pt/.pth/.bin/.ckpt) are refused outright: unpickling
runs arbitrary code from the file, and checkpoints come from URIs that anyone may have written.
Files are read and written whole through ``media.storage``, so a local path or any fsspec URI
works and a save publishes the file atomically (all or nothing under the final name).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

from media import storage
from model.config import ModelConfig, config_dict_from_json, config_dict_hash, upgrade_config_dict

FORMAT = "talkie-checkpoint"
FORMAT_VERSION = "2"
SUPPORTED_VERSIONS = ("1", "2")
SUFFIX = ".safetensors"
RESERVED_KEYS = ("format", "format_version", "config", "config_hash")
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")

_ONLY_SAFETENSORS = (
    "only safetensors checkpoints are accepted: pickle-based files (torch.save) can run arbitrary "
    "code when loaded, so Talkie never unpickles"
)


class Checkpoint(NamedTuple):
    """What ``load_checkpoint`` returns; unpacks as (state_dict, config, metadata, sha256)."""

    state_dict: dict[str, torch.Tensor]
    config: ModelConfig
    metadata: dict[str, str]  # the whole safetensors metadata, the reserved keys included
    sha256: str  # hex SHA-256 of the file's bytes (docs/design.md "Keys": the checkpoint SHA-256)


# ----------------------------------------------------------------------------- saving


def checkpoint_bytes(
    state_dict: Mapping[str, torch.Tensor],
    config: ModelConfig,
    *,
    extra_metadata: Mapping[str, str] | None = None,
) -> bytes:
    """The safetensors bytes of a checkpoint (what ``save_checkpoint`` writes)."""
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config is a {type(config).__name__}: need a ModelConfig")
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_json(),
        "config_hash": config.config_hash(),
    }
    for key, value in (extra_metadata or {}).items():
        if key in RESERVED_KEYS:
            raise ValueError(f"extra_metadata key {key!r} is reserved: the reserved keys are {RESERVED_KEYS}")
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"extra_metadata[{key!r}]={value!r}: keys and values must be strings")
        metadata[key] = value
    return _canonical(safetensors_save(_plain_tensors(state_dict), metadata=metadata))


def _canonical(data: bytes) -> bytes:
    """The same safetensors file with its JSON header's keys sorted.

    safetensors writes the metadata in hash-map order, which changes from call to call; sorted,
    the same tensors and config always give the same bytes and so the same SHA-256 (which enters
    every unit key). Tensor offsets are relative to the end of the header, so the data is kept
    as is; the header is padded with spaces to a multiple of 8 bytes, as safetensors does.
    """
    (length,) = struct.unpack("<Q", data[:8])
    header = json.dumps(json.loads(data[8 : 8 + length]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data[8 + length :]


def _plain_tensors(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors; copies where tensors share memory (tied weights),
    which safetensors refuses to write."""
    if not state_dict:
        raise ValueError("state_dict is empty: a checkpoint needs at least one tensor")
    out, storages = {}, set()
    for name, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"state_dict[{name!r}] is a {type(tensor).__name__}: only tensors can be saved")
        tensor = tensor.detach().to("cpu").contiguous()
        if tensor.untyped_storage().data_ptr() in storages:
            tensor = tensor.clone()
        storages.add(tensor.untyped_storage().data_ptr())
        out[name] = tensor
    return out


def save_checkpoint(
    path_or_uri: str,
    state_dict: Mapping[str, torch.Tensor],
    config: ModelConfig,
    *,
    extra_metadata: Mapping[str, str] | None = None,
) -> str:
    """Write a checkpoint to a local path or fsspec URI ending in .safetensors, atomically.

    Returns the hex SHA-256 of the bytes written, the same digest ``load_checkpoint`` reports.
    """
    if not path_or_uri.endswith(SUFFIX):
        raise ValueError(f"checkpoint path {path_or_uri!r} must end in {SUFFIX!r}: {_ONLY_SAFETENSORS}")
    data = checkpoint_bytes(state_dict, config, extra_metadata=extra_metadata)
    storage.write_bytes(path_or_uri, data)
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- loading


def load_checkpoint(
    path_or_uri: str, *, expected_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> Checkpoint:
    """Read a checkpoint from a local path or fsspec URI and check it.

    Refuses pickle files by name and by content, anything that is not safetensors, a missing or
    foreign format marker, an unsupported format version, a config that ``ModelConfig.from_json``
    rejects (unknown or missing keys) or whose hash does not match, and, when ``expected_shapes``
    ({name: shape}, e.g. from the network's own state_dict) is given, missing, unexpected or
    misshapen tensors. Tensors are loaded on the CPU.
    """
    lowered = path_or_uri.lower()
    if lowered.endswith(PICKLE_SUFFIXES):
        raise ValueError(f"refusing checkpoint {path_or_uri!r}: {_ONLY_SAFETENSORS}")
    data = storage.read_bytes(path_or_uri)
    return checkpoint_from_bytes(data, source=path_or_uri, expected_shapes=expected_shapes)


def checkpoint_from_bytes(
    data: bytes, *, source: str = "<bytes>", expected_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> Checkpoint:
    """``load_checkpoint`` on bytes already read; ``source`` names them in errors."""
    header = _safetensors_header(data, source)
    metadata = header.get("__metadata__")
    metadata = metadata if isinstance(metadata, dict) else {}
    if metadata.get("format") != FORMAT:
        raise ValueError(
            f"{source} is a safetensors file but not a Talkie checkpoint: its metadata has "
            f"format={metadata.get('format')!r}, need {FORMAT!r} (model.checkpoint.save_checkpoint writes it)"
        )
    version = metadata.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(
            f"{source}: checkpoint format_version={version!r} is not supported; supported: "
            f"{SUPPORTED_VERSIONS}"
        )
    config = _config_from_metadata(metadata, version, source)
    try:
        state_dict = safetensors_load(data)
    except SafetensorError as e:
        raise ValueError(f"{source} is not a valid safetensors file: {e}") from None
    if not state_dict:
        raise ValueError(f"{source}: the checkpoint holds no tensors")
    if expected_shapes is not None:
        _check_shapes(state_dict, expected_shapes, source)
    return Checkpoint(state_dict, config, dict(metadata), hashlib.sha256(data).hexdigest())


def _config_from_metadata(metadata: Mapping[str, str], version: str, source: str) -> ModelConfig:
    """The config a checkpoint was written with, upgraded to the current fields, its hash checked."""
    try:
        data = config_dict_from_json(metadata.get("config", ""))
        written_hash = config_dict_hash(data)  # the hash covers the config as written
        config = ModelConfig.from_dict(upgrade_config_dict(data) if version == "1" else data)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{source}: the checkpoint's config is invalid: {e}") from None
    if metadata.get("config_hash") != written_hash:
        raise ValueError(
            f"{source}: config_hash={metadata.get('config_hash')!r} does not match its config "
            f"(hash {written_hash!r}); the metadata was edited or written by other code"
        )
    return config


def _safetensors_header(data: bytes, source: str) -> dict[str, Any]:
    """The JSON header of safetensors bytes: an 8-byte little-endian length, then that much JSON.

    Bytes that are not laid out so are refused, and a pickle or a torch.save zip archive is
    named as such, so the error says what the file is.
    """
    length = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else 0
    if not (2 <= length <= len(data) - 8 and data[8:9] == b"{"):
        if data[:4] == b"PK\x03\x04":  # the zip signature
            what = "a zip archive (torch.save's format)"
        elif len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:  # pickle's PROTO opcode
            what = "a Python pickle"
        else:
            what = f"not a safetensors file ({len(data)} bytes, no JSON header)"
        raise ValueError(f"{source} is {what}: {_ONLY_SAFETENSORS}")
    try:
        header = json.loads(data[8 : 8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{source} is not a safetensors file (bad header: {e}): {_ONLY_SAFETENSORS}"
        ) from None
    if not isinstance(header, dict):
        raise ValueError(f"{source} is not a safetensors file (header is not an object): {_ONLY_SAFETENSORS}")
    return header


def _check_shapes(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], source: str
) -> None:
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = [
        f"{name} {tuple(state_dict[name].shape)} != {tuple(shape)}"
        for name, shape in expected.items()
        if name in state_dict and tuple(state_dict[name].shape) != tuple(shape)
    ]
    problems = [
        f"{label}: {', '.join(items)}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
        if items
    ]
    if problems:
        raise ValueError(f"{source}: tensors do not match the network: {'; '.join(problems)}")
