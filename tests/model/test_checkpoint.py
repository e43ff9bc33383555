"""Checkpoints: round trips on disk and memory://, pickles refused, configs and shapes checked."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import subprocess
import sys
import uuid
from pathlib import Path

import fsspec
import pytest
import torch
from safetensors.torch import save as raw_safetensors

from model.checkpoint import (
    FORMAT,
    checkpoint_bytes,
    load_checkpoint,
    save_checkpoint,
)
from model.config import preset

REPO = Path(__file__).resolve().parents[2]
CONFIG = preset("tiny")


def linear(seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(6, 3)


def memory_uri(name: str = "model.safetensors") -> str:
    return f"memory://checkpoints-{uuid.uuid4().hex}/{name}"


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and torch.equal(a[name], b[name]), name


# ----------------------------------------------------------------------------- round trips


def test_local_round_trip(tmp_path):
    state = {**linear().state_dict(), "steps": torch.tensor([3, 4], dtype=torch.int64)}
    path = str(tmp_path / "model.safetensors")
    digest = save_checkpoint(path, state, CONFIG, extra_metadata={"train_step": "8000"})

    loaded, config, metadata, sha256 = load_checkpoint(path)
    assert_same_tensors(loaded, state)
    assert config == CONFIG and config.config_hash() == CONFIG.config_hash()
    assert metadata["train_step"] == "8000" and metadata["format"] == FORMAT
    assert metadata["config_hash"] == CONFIG.config_hash()
    assert sha256 == digest == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary left behind


def test_memory_uri_round_trip_matches_local(tmp_path):
    state = linear(1).state_dict()
    uri = memory_uri()
    save_checkpoint(uri, state, CONFIG)
    save_checkpoint(str(tmp_path / "m.safetensors"), state, CONFIG)
    from_memory, from_disk = load_checkpoint(uri), load_checkpoint(f"file://{tmp_path}/m.safetensors")
    assert_same_tensors(from_memory.state_dict, state)
    assert from_memory.config == from_disk.config == CONFIG
    assert from_memory.sha256 == from_disk.sha256  # the same bytes wherever they are stored


def test_outputs_after_loading_equal_outputs_before(tmp_path):
    model = linear(2)
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    before = model(x)
    path = str(tmp_path / "linear.safetensors")
    save_checkpoint(path, model.state_dict(), CONFIG)

    fresh = linear(99)
    assert not torch.equal(fresh(x), before)
    checkpoint = load_checkpoint(path, expected_shapes={k: v.shape for k, v in fresh.state_dict().items()})
    fresh.load_state_dict(checkpoint.state_dict)
    assert torch.equal(fresh(x), before)


def test_same_state_same_bytes():
    """safetensors alone writes its metadata in a random order; five saves catch that."""
    first = checkpoint_bytes(linear(3).state_dict(), CONFIG, extra_metadata={"a": "1", "b": "2"})
    for _ in range(5):
        assert checkpoint_bytes(linear(3).state_dict(), CONFIG, extra_metadata={"b": "2", "a": "1"}) == first
    assert first != checkpoint_bytes(linear(4).state_dict(), CONFIG, extra_metadata={"a": "1", "b": "2"})


def test_tied_and_non_contiguous_tensors_are_saved(tmp_path):
    shared = torch.randn(4, 4)
    state = {"embed": shared, "unembed": shared, "transposed": shared.T}
    path = str(tmp_path / "tied.safetensors")
    save_checkpoint(path, state, CONFIG)
    loaded = load_checkpoint(path).state_dict
    assert torch.equal(loaded["embed"], shared) and torch.equal(loaded["unembed"], shared)
    assert torch.equal(loaded["transposed"], shared.T)


# ----------------------------------------------------------------------------- refusals


def test_a_pt_pickle_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(linear().state_dict(), path)
    with pytest.raises(ValueError, match="only safetensors checkpoints are accepted.*never unpickles"):
        load_checkpoint(str(path))


@pytest.mark.parametrize("suffix", [".pth", ".bin", ".ckpt", ".PT", ".pkl", ".pickle", ".safetensors.pt"])
def test_pickle_suffixes_are_refused_before_reading(suffix):
    with pytest.raises(ValueError, match="only safetensors"):
        load_checkpoint(f"/nonexistent/model{suffix}")


def test_a_torch_save_file_renamed_to_safetensors_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    torch.save(linear().state_dict(), path)
    with pytest.raises(ValueError, match=r"zip archive \(torch.save's format\).*only safetensors"):
        load_checkpoint(str(path))


def test_legacy_torch_save_and_plain_pickles_are_refused(tmp_path):
    legacy = tmp_path / "legacy.safetensors"
    torch.save(linear().state_dict(), legacy, _use_new_zipfile_serialization=False)
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    for path in (legacy, plain):
        with pytest.raises(ValueError, match="is a Python pickle: only safetensors"):
            load_checkpoint(str(path))


@pytest.mark.parametrize("data", [b"", b"hello", b"\x00" * 64, b"\x08" + b"\x00" * 7 + b"[1, 2, 3]"])
def test_bytes_that_are_not_safetensors_are_refused(data):
    uri = memory_uri()
    with fsspec.open(uri, "wb") as f:
        f.write(data)
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_checkpoint(uri)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    data = checkpoint_bytes(linear().state_dict(), CONFIG)
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:-5])
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_checkpoint(str(path))


def test_a_safetensors_file_without_talkie_metadata_is_refused(tmp_path):
    path = tmp_path / "foreign.safetensors"
    path.write_bytes(raw_safetensors(linear().state_dict()))
    with pytest.raises(ValueError, match="not a Talkie checkpoint"):
        load_checkpoint(str(path))


def _with_metadata(tmp_path, **changes) -> str:
    metadata = {
        "format": FORMAT,
        "format_version": "2",
        "config": CONFIG.to_json(),
        "config_hash": CONFIG.config_hash(),
        **changes,
    }
    path = tmp_path / "edited.safetensors"
    path.write_bytes(raw_safetensors(linear().state_dict(), metadata=metadata))
    return str(path)


def test_a_config_with_an_unknown_key_is_refused_naming_it(tmp_path):
    data = CONFIG.to_dict()
    data["network"]["num_experts"] = 8
    path = _with_metadata(tmp_path, config=json.dumps(data))
    with pytest.raises(ValueError, match=r"config is invalid.*unknown keys config\.network\.num_experts"):
        load_checkpoint(path)


def test_a_config_with_a_missing_key_is_refused_naming_it(tmp_path):
    data = CONFIG.to_dict()
    del data["window"]["overlap_s"]
    with pytest.raises(ValueError, match=r"missing keys config\.window\.overlap_s"):
        load_checkpoint(_with_metadata(tmp_path, config=json.dumps(data)))


def test_an_edited_config_fails_its_hash(tmp_path):
    edited = dataclasses.replace(CONFIG, sampler=dataclasses.replace(CONFIG.sampler, steps=50))
    with pytest.raises(ValueError, match="does not match its config"):
        load_checkpoint(_with_metadata(tmp_path, config=edited.to_json()))


def test_an_unknown_format_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"format_version='3' is not supported; supported: \('1', '2'\)"):
        load_checkpoint(_with_metadata(tmp_path, format_version="3"))


@pytest.mark.parametrize("text_guidance,negative_guidance", [(2.0, 1.0), (3.5, 2.5), (0.5, 0.0)])
def test_a_version_1_checkpoint_keeps_its_negative_prompt_weight(tmp_path, text_guidance, negative_guidance):
    """Version 1 had no negative_guidance: its negative prompt replaced the null text, a weight of
    text_guidance - 1, which loading it now keeps."""
    data = CONFIG.to_dict()
    del data["sampler"]["negative_guidance"]
    data["sampler"].update(text_guidance=text_guidance, negative_prompt="speech, talking, music")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    written_hash = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = _with_metadata(tmp_path, format_version="1", config=text, config_hash=written_hash)
    config = load_checkpoint(path).config
    assert config.sampler.negative_guidance == negative_guidance
    assert (
        config.sampler.text_guidance == text_guidance
        and config.sampler.negative_prompt == "speech, talking, music"
    )
    # a version 2 checkpoint must carry the field
    with pytest.raises(ValueError, match=r"missing keys config\.sampler\.negative_guidance"):
        load_checkpoint(_with_metadata(tmp_path, format_version="2", config=text, config_hash=written_hash))
    # and version 1's config is still checked against its hash
    with pytest.raises(ValueError, match="does not match its config"):
        load_checkpoint(
            _with_metadata(tmp_path, format_version="1", config=text, config_hash=CONFIG.config_hash())
        )


@pytest.mark.parametrize(
    "config,expected",
    [
        (None, "config is invalid: model config is not valid JSON"),
        ("{not json", "config is invalid: model config is not valid JSON"),
        ("[]", "config is invalid: config: expected a JSON object"),
        ("wrong_type", r"config is invalid: AudioConfig.sample_rate='16000': expected an integer"),
        ("out_of_range", r"config is invalid: AudioConfig.n_mels=0: must be > 0"),
    ],
)
def test_a_missing_or_invalid_config_is_refused(tmp_path, config, expected):
    data = CONFIG.to_dict()
    if config == "wrong_type":
        data["audio"]["sample_rate"] = "16000"
    elif config == "out_of_range":
        data["audio"]["n_mels"] = 0
    text = json.dumps(data) if config in ("wrong_type", "out_of_range") else config
    metadata = {"format": FORMAT, "format_version": "2", "config_hash": CONFIG.config_hash()}
    if text is not None:
        metadata["config"] = text
    path = tmp_path / "bad_config.safetensors"
    path.write_bytes(raw_safetensors(linear().state_dict(), metadata=metadata))
    with pytest.raises(ValueError, match=expected):
        load_checkpoint(str(path))


def test_a_missing_config_hash_is_refused(tmp_path):
    path = tmp_path / "no_hash.safetensors"
    metadata = {"format": FORMAT, "format_version": "2", "config": CONFIG.to_json()}
    path.write_bytes(raw_safetensors(linear().state_dict(), metadata=metadata))
    with pytest.raises(ValueError, match="config_hash=None does not match its config"):
        load_checkpoint(str(path))


def test_no_file_is_ever_unpickled(tmp_path, monkeypatch):
    """Every pickle-based file is refused with every unpickling entry point booby-trapped."""
    names = ("model.pt", "zip.safetensors", "legacy.safetensors", "plain.safetensors")
    torch.save(linear().state_dict(), tmp_path / "model.pt")
    torch.save(linear().state_dict(), tmp_path / "zip.safetensors")
    torch.save(linear().state_dict(), tmp_path / "legacy.safetensors", _use_new_zipfile_serialization=False)
    (tmp_path / "plain.safetensors").write_bytes(
        pickle.dumps({"weight": [1.0]}, protocol=0)
    )  # no PROTO opcode
    good = str(tmp_path / "good.safetensors")
    save_checkpoint(good, linear().state_dict(), CONFIG)

    def trap(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]:
        monkeypatch.setattr(module, name, trap)
    for name in names:
        with pytest.raises(ValueError, match="only safetensors checkpoints are accepted"):
            load_checkpoint(str(tmp_path / name))
    assert load_checkpoint(good).config == CONFIG


def test_expected_shapes_name_what_is_missing_unexpected_or_misshapen(tmp_path):
    path = str(tmp_path / "model.safetensors")
    save_checkpoint(path, linear().state_dict(), CONFIG)
    expected = {"weight": (3, 5), "scale": (1,)}
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, expected_shapes=expected)
    message = str(info.value)
    assert "missing: scale" in message and "unexpected: bias" in message
    assert "weight (3, 6) != (3, 5)" in message


# ----------------------------------------------------------------------------- saving errors


def test_saving_needs_a_safetensors_name(tmp_path):
    with pytest.raises(ValueError, match=r"'.*model\.pt' must end in '\.safetensors'"):
        save_checkpoint(str(tmp_path / "model.pt"), linear().state_dict(), CONFIG)
    assert not (tmp_path / "model.pt").exists()


def test_saving_refuses_bad_inputs_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(TypeError, match=r"state_dict\['step'\] is a int"):
        save_checkpoint(str(path), {"step": 3}, CONFIG)
    with pytest.raises(ValueError, match="state_dict is empty"):
        save_checkpoint(str(path), {}, CONFIG)
    with pytest.raises(ValueError, match="'config_hash' is reserved"):
        save_checkpoint(str(path), linear().state_dict(), CONFIG, extra_metadata={"config_hash": "x"})
    with pytest.raises(TypeError, match=r"extra_metadata\['step'\]=3"):
        save_checkpoint(str(path), linear().state_dict(), CONFIG, extra_metadata={"step": 3})
    with pytest.raises(TypeError, match="config is a dict"):
        save_checkpoint(str(path), linear().state_dict(), CONFIG.to_dict())
    assert not path.exists() and os.listdir(tmp_path) == []


def test_model_foundations_import_neither_beam_nor_pickle_loaders():
    code = (
        "import sys, model.config, model.sampling, model.mel, model.vocoders.bigvgan, model.checkpoint; "
        "sys.exit('imported apache_beam' if 'apache_beam' in sys.modules else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    source = (REPO / "model" / "checkpoint.py").read_text()
    assert "torch.load" not in source and "import pickle" not in source
