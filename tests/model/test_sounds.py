"""The sound bank (model/sounds) on packages the tests write themselves: nothing is downloaded.

Fake unpacked trees of four real packages, laid out as Debian ships them (a .pk3 zip for
ufoai-sound, loose FLAC for sonic-pi-samples, an OpenTTD .cat for openttd-opensfx, loose WAVE
for wesnoth-1.16-data), hold generated sounds, speech and music files that must stay out, and
two truncated files; build_bank reads them through a LocalFetcher, along the same rules,
conversion and manifest code as a real build.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from model.sounds import CLASSES, LocalFetcher, build_bank, load_manifest, recordings
from model.sounds import __main__ as cli
from model.sounds import bank as bank_module
from model.sounds.audio import SAMPLE_RATE, UnreadableAudio, convert, decode
from model.sounds.bank import HELDOUT_FRACTION, assign_splits
from model.sounds.containers import parse_credit, read_cat
from model.sounds.copyright import Copyright

FIELDS = {
    "path",
    "class",
    "surface",
    "package",
    "package_version",
    "licence",
    "author",
    "sha256",
    "bytes",
    "duration_s",
    "split",
    "source",
    "title",
    "source_rate",
    "source_channels",
    "gain_db",
    "onset_s",
}


def sound(seed: int, seconds: float = 0.4, rate: int = 44100, channels: int = 1) -> np.ndarray:
    """A decaying noise burst with a tone in it: something like an impact."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = (rng.standard_normal(t.size) * 0.3 + 0.2 * np.sin(2 * np.pi * (200 + 40 * seed) * t)) * np.exp(-t * 8)
    x = np.concatenate([np.zeros(int(0.02 * rate)), x])  # the onset 20 ms in
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def encoded(x: np.ndarray, fmt: str, rate: int = 44100) -> bytes:
    out = io.BytesIO()
    sf.write(out, x, rate, format=fmt, subtype={"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS"}[fmt])
    return out.getvalue()


def clip(seed: int, fmt: str, rate: int = 44100, seconds: float = 0.4, channels: int = 1) -> bytes:
    return encoded(sound(seed, seconds, rate, channels), fmt, rate)


def write_cat(path: Path, entries: list[tuple[str, bytes]]) -> None:
    """An OpenTTD catalogue as catcodec writes it (see model/sounds/containers.py)."""
    table, body, offset = b"", b"", 8 * len(entries)
    for description, wave in entries:
        name = description.encode() + b"\0"
        chunk = bytes([len(name)]) + name + wave
        table += struct.pack("<II", offset | 0x80000000, len(wave))
        body += chunk
        offset += len(chunk)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(table + body)


def _doc(root: Path, package: str, text: str) -> None:
    doc = root / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(text)


def fake_packages(base: Path) -> dict[str, tuple[str, Path]]:
    seed = iter(range(1000))
    # ufoai-sound: Ogg in a zip, per-file licences in a DEP-5 copyright file
    ufoai = base / "ufoai-sound"
    pk3 = ufoai / "usr/share/games/ufoai/base/0snd.pk3"
    pk3.parent.mkdir(parents=True)
    with zipfile.ZipFile(pk3, "w") as z:
        for name in [
            *(f"footsteps/{surface}{i}" for surface in ("wood", "gravel") for i in range(1, 5)),
            *(f"doors/door{i}-open" for i in range(1, 4)),
            *(f"misc/breakglass0{i}" for i in range(2, 5)),
            "weapons/bullet-pistol",
            "soldiers/maledeath01",  # speech: left out
            "ambience/disco",  # music: left out
            "weapons/laser-small",  # science fiction: left out
        ]:
            z.writestr(f"sound/{name}.ogg", clip(next(seed), "OGG", channels=2))
        whole = clip(next(seed), "OGG", seconds=1.0)
        z.writestr("sound/misc/breakglass01.ogg", whole[: len(whole) // 2])  # truncated
    _doc(
        ufoai,
        "ufoai-sound",
        (
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            "Source: http://sourceforge.net/projects/ufoai/\n\n"
            "Files: *\nCopyright: 2002-2014, The UFO:AI Team\nLicense: GPL-2+\n\n"
            "Files:\n base/sound/footsteps/wood1.ogg\n base/sound/doors/*\nCopyright:\n Gren\n Karl Macklin\n"
            "License: CC-BY-SA-3.0\n Creative Commons Attribution-ShareAlike 3.0 Unported\n"
        ),
    )
    # sonic-pi-samples: loose FLAC, one CC0 paragraph per sample
    spi = base / "sonic-pi-samples"
    samples = spi / "usr/share/sonic-pi/samples"
    samples.mkdir(parents=True)
    stanzas = [
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
        "Files: *\nCopyright: 2016 Samuel Aaron\nLicense: MIT\n",
    ]
    for name in ("perc_bell", "perc_bell2", "misc_crow", "loop_amen", "misc_burp"):
        (samples / f"{name}.flac").write_bytes(clip(next(seed), "FLAC", seconds=0.6))
        stanzas.append(f"Files: etc/samples/{name}.flac\nCopyright: 2014 someone_{name}\nLicense: CC0\n")
    _doc(spi, "sonic-pi-samples", "\n".join(stanzas))
    # openttd-opensfx: WAVE in a catalogue, each entry's licence in its description
    ottd = base / "openttd-opensfx"
    credit = 'Original "a.wav" by "someone". Edited by "Wuzzy". License: Creative Commons Attribution 3.0.'
    write_cat(
        ottd / "usr/share/games/openttd/baseset/opensfx/opensfx.cat",
        [
            (f'"Applause". {credit}', clip(next(seed), "WAV", 22050, seconds=1.2)),
            (
                '"Oooh sound". By Janis Lukss. License: Creative Commons Zero 1.0.',
                clip(next(seed), "WAV", 22050),
            ),
            (f'"Toyland: Jet take off". {credit}', clip(next(seed), "WAV", 22050)),  # left out
            (
                '"Unused/Nothing". Trivial empty sound file. License: Creative Commons Zero 1.0.',
                encoded(np.zeros(0), "WAV", 22050),
            ),  # empty: left out
        ],
    )
    _doc(
        ottd,
        "openttd-opensfx",
        (
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: src/wav/*\nCopyright: Various authors.\nLicense: CC-BY-SA-3.0\n"
        ),
    )
    # wesnoth-1.16-data: loose WAVE; its copyright file is prose, not DEP-5
    wes = base / "wesnoth-1.16-data"
    sounds = wes / "usr/share/games/wesnoth/1.16/data/core/sounds"
    sounds.mkdir(parents=True)
    for name in ("horse-canter", "horse-elf-canter", "gunshot"):
        (sounds / f"{name}.wav").write_bytes(clip(next(seed), "WAV", 11025))
    (sounds / "ambient").mkdir()
    (sounds / "ambient/birds1.wav").write_bytes(clip(next(seed), "WAV", 48000))
    (sounds / "human-die-1.wav").write_bytes(clip(next(seed), "WAV"))  # a voice: left out
    cut = clip(next(seed), "WAV", seconds=1.0)
    (sounds / "explosion.wav").write_bytes(cut[: len(cut) - 2000])  # truncated
    _doc(wes, "wesnoth-1.16-data", "This package was debianized by someone.\nLicense: GPL-2+, see below.\n")
    return {
        "ufoai-sound": ("2.5-2", ufoai),
        "sonic-pi-samples": ("3.2.2~repack-8", spi),
        "openttd-opensfx": ("1.0.3-2", ottd),
        "wesnoth-1.16-data": ("1:1.16.9-1", wes),
    }


PACKAGE_NAMES = ["ufoai-sound", "sonic-pi-samples", "openttd-opensfx", "wesnoth-1.16-data"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("sounds")
    packages = fake_packages(base / "packages")
    lines: list[str] = []
    summary = build_bank(base / "bank", PACKAGE_NAMES, log=lines.append, fetcher=LocalFetcher(packages))
    return {"bank": base / "bank", "packages": packages, "summary": summary, "lines": lines}


def _rows(bank: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bank / "manifest.jsonl").read_text().splitlines()]


def test_manifest_rows_name_their_files_classes_and_licences(built: dict[str, object]) -> None:
    bank = built["bank"]
    assert isinstance(bank, Path)
    rows = _rows(bank)
    assert {(r["package"], r["class"]) for r in rows} == {
        ("ufoai-sound", "footsteps"),
        ("ufoai-sound", "door"),
        ("ufoai-sound", "glass"),
        ("ufoai-sound", "gunshot"),
        ("sonic-pi-samples", "bell"),
        ("sonic-pi-samples", "animals"),
        ("openttd-opensfx", "crowd"),
        ("wesnoth-1.16-data", "horse_hooves"),
        ("wesnoth-1.16-data", "gunshot"),
        ("wesnoth-1.16-data", "animals"),
    }
    assert len(rows) == 15 + 3 + 2 + 4
    for r in rows:
        assert set(r) == FIELDS
        assert r["class"] in CLASSES and r["split"] in ("train", "heldout")
        data = (bank / str(r["path"])).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"] and len(data) == r["bytes"]
        assert r["path"] == f"{r['class']}/{r['package']}/{Path(str(r['path'])).name}"
        info = sf.info(io.BytesIO(data))
        assert (info.samplerate, info.channels, info.format) == (SAMPLE_RATE, 1, "FLAC")
        assert info.duration == pytest.approx(r["duration_s"], abs=1e-3)
        assert 0.015 <= float(r["onset_s"]) <= 0.03  # the generated onset is 20 ms in
        peak = float(np.abs(sf.read(io.BytesIO(data))[0]).max())
        assert peak == pytest.approx(10 ** (-1 / 20), abs=2e-3)  # -1 dBFS
    by_source = {str(r["source"]).rsplit("/", 1)[-1]: r for r in rows}  # "wood1.ogg", "opensfx.cat#00"
    # DEP-5: the last paragraph matching a file decides (a glob, and a single file)
    wood1, wood2 = by_source["wood1.ogg"], by_source["wood2.ogg"]
    assert (wood1["licence"], wood1["author"]) == ("CC-BY-SA-3.0", "Gren; Karl Macklin")
    assert (wood2["licence"], wood2["author"]) == ("GPL-2+", "2002-2014, The UFO:AI Team")
    assert by_source["door2-open.ogg"]["licence"] == "CC-BY-SA-3.0"
    assert (wood1["surface"], by_source["gravel3.ogg"]["surface"]) == ("wood", "gravel")
    assert wood1["source_channels"] == 2 and wood1["source_rate"] == 44100
    assert by_source["perc_bell.flac"]["licence"] == "CC0"
    assert by_source["perc_bell.flac"]["author"] == "2014 someone_perc_bell"
    # OpenSFX: each entry's own licence and credit, not the collection's paragraph
    applause, oooh = by_source["opensfx.cat#00"], by_source["opensfx.cat#01"]
    assert (applause["licence"], applause["title"]) == ("CC-BY-3.0", "Applause")
    assert applause["author"] == 'Original "a.wav" by "someone". Edited by "Wuzzy".'
    assert (oooh["licence"], oooh["author"]) == ("CC0-1.0", "By Janis Lukss.")
    assert applause["path"] == "crowd/openttd-opensfx/00-applause.flac"
    # Wesnoth's copyright file is prose: the package rules' licence
    assert by_source["horse-canter.wav"]["licence"] == "GPL-2+"
    assert by_source["horse-canter.wav"]["package_version"] == "1:1.16.9-1"


def test_speech_music_and_toy_sounds_stay_out_and_are_logged(built: dict[str, object]) -> None:
    bank = built["bank"]
    assert isinstance(bank, Path)
    sources = " ".join(str(r["source"]) for r in _rows(bank))
    for gone in (
        "maledeath01",
        "disco",
        "laser-small",
        "loop_amen",
        "misc_burp",
        "human-die-1",
        "#02",
        "#03",
    ):
        assert gone not in sources
    log = (bank / "build.log").read_text()
    assert "0snd.pk3!sound/soldiers/maledeath01.ogg\tspeech or voice" in log
    assert "0snd.pk3!sound/ambience/disco.ogg\tmusic" in log
    assert "loop_amen.flac\tmusic sample" in log
    assert "opensfx.cat#02 (Toyland: Jet take off)\ttoy-world effect" in log


def test_truncated_files_are_logged_and_counted_not_fatal(built: dict[str, object]) -> None:
    bank, summary, lines = built["bank"], built["summary"], built["lines"]
    assert isinstance(bank, Path) and isinstance(summary, bank_module.BankSummary) and isinstance(lines, list)
    unreadable = [
        line for line in (bank / "build.log").read_text().splitlines() if line.startswith("unreadable")
    ]
    assert len(unreadable) == 2 and summary.unreadable == 2
    assert any("breakglass01.ogg" in line and "truncated" in line for line in unreadable)
    assert any("explosion.wav" in line and "truncated" in line for line in unreadable)
    assert "breakglass01" not in (bank / "manifest.jsonl").read_text()
    assert any("2 unreadable" in line for line in lines)


def test_every_class_holds_some_out_by_a_fixed_rule(built: dict[str, object]) -> None:
    bank = built["bank"]
    assert isinstance(bank, Path)
    rows = _rows(bank)
    for cls in {str(r["class"]) for r in rows}:
        splits = [r["split"] for r in rows if r["class"] == cls]
        assert splits.count("heldout") == max(1, round(HELDOUT_FRACTION * len(splits)))
        assert "train" in splits
    # footsteps' held-out files spread over its surfaces before a surface gives a second
    steps = [r for r in rows if r["class"] == "footsteps"]
    assert len({r["surface"] for r in steps if r["split"] == "heldout"}) == 1  # 8 steps: round(1.44) = 1
    # the split depends on the files alone: not on row order
    shuffled = [dict(r) for r in rows]
    random.Random(0).shuffle(shuffled)
    assign_splits(shuffled)
    assert {r["path"]: r["split"] for r in shuffled} == {r["path"]: r["split"] for r in rows}


def test_split_spreads_over_surfaces_and_keeps_single_recordings() -> None:
    rows: list[dict[str, Any]] = [
        {"class": "footsteps", "surface": s, "package": "p", "source": f"{s}{i}"}
        for s in "abcd"
        for i in range(5)
    ]
    rows.append({"class": "rain", "surface": None, "package": "p", "source": "only"})
    assign_splits(rows)
    held = [r for r in rows if r["split"] == "heldout"]
    assert len(held) == round(HELDOUT_FRACTION * 20) == 4
    assert {r["surface"] for r in held} == set("abcd")
    assert rows[-1]["split"] == "train"  # one recording cannot be both


def test_second_run_is_a_no_op(built: dict[str, object], tmp_path: Path) -> None:
    bank, packages = built["bank"], built["packages"]
    assert isinstance(bank, Path) and isinstance(packages, dict)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in bank.iterdir() if p.is_file()}
    fetcher = LocalFetcher(packages)
    summary = build_bank(bank, PACKAGE_NAMES, log=lambda _: None, fetcher=fetcher)
    assert fetcher.calls == [] and not summary.changed
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in bank.iterdir() if p.is_file()} == before
    assert all(p.up_to_date for p in summary.packages)
    assert summary.recordings == len(_rows(bank)) and summary.classes == 8


def test_a_missing_file_rebuilds_only_its_package(built: dict[str, object], tmp_path: Path) -> None:
    packages = built["packages"]
    assert isinstance(packages, dict)
    fetcher = LocalFetcher(packages)
    bank = tmp_path / "bank"
    build_bank(bank, ["sonic-pi-samples", "wesnoth-1.16-data"], log=lambda _: None, fetcher=fetcher)
    first = _rows(bank)
    (bank / str(next(r["path"] for r in first if r["package"] == "sonic-pi-samples"))).unlink()
    fetcher.calls.clear()
    summary = build_bank(bank, ["sonic-pi-samples", "wesnoth-1.16-data"], log=lambda _: None, fetcher=fetcher)
    assert fetcher.calls == ["sonic-pi-samples"] and summary.changed
    assert _rows(bank) == first  # the same files again, the same split


def test_a_package_that_cannot_be_fetched_fails_alone(built: dict[str, object], tmp_path: Path) -> None:
    packages = built["packages"]
    assert isinstance(packages, dict)
    local = LocalFetcher({"sonic-pi-samples": packages["sonic-pi-samples"]})
    summary = build_bank(
        tmp_path / "bank", ["ufoai-sound", "sonic-pi-samples"], log=lambda _: None, fetcher=local
    )
    assert summary.failed == ["ufoai-sound"]
    assert {r["package"] for r in _rows(tmp_path / "bank")} == {"sonic-pi-samples"}
    assert "failed\tufoai-sound" in (tmp_path / "bank/build.log").read_text()


def test_readers_filter_by_class_and_split(built: dict[str, object]) -> None:
    bank = built["bank"]
    assert isinstance(bank, Path)
    everything = load_manifest(bank)
    assert len(everything) == len(_rows(bank)) and all(r.file.is_file() for r in everything)
    steps = recordings(bank, cls="footsteps", split="train")
    assert steps and all(r.cls == "footsteps" and r.split == "train" and r.surface for r in steps)
    held = recordings(bank, split="heldout")
    assert {r.cls for r in held} == {r.cls for r in everything}
    with pytest.raises(ValueError):
        recordings(bank, cls="knock")
    assert load_manifest(bank / "nowhere") == []


def test_summary_prints_classes_size_and_time(built: dict[str, object]) -> None:
    lines, summary = built["lines"], built["summary"]
    assert isinstance(lines, list) and isinstance(summary, bank_module.BankSummary)
    text = "\n".join(lines)
    assert "footsteps" in text and "horse_hooves" in text and " MB in " in text and " s" in lines[-1]
    assert summary.counts["footsteps"] == {"train": 7, "heldout": 1}
    assert summary.files == summary.recordings + 4  # manifest, packages.json, ATTRIBUTION, build.log
    attribution = (summary.bank_dir / "ATTRIBUTION").read_text()
    packages = built["packages"]
    assert isinstance(packages, dict)
    for name, (version, _) in packages.items():
        assert f"== {name} {version} ==" in attribution
    assert "CC-BY-SA-3.0: Gren; Karl Macklin" in attribution
    assert "Upstream: http://sourceforge.net/projects/ufoai/" in attribution


def test_cli_builds_in_out_dir(
    built: dict[str, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    packages = built["packages"]
    assert isinstance(packages, dict)
    monkeypatch.setattr(bank_module, "AptFetcher", lambda: LocalFetcher(packages))
    assert cli.main(["--out", str(tmp_path / "bank"), "--packages", "wesnoth-1.16-data"]) == 0
    out = capsys.readouterr().out
    assert "horse_hooves" in out and "4 recordings in 3 classes" in out
    monkeypatch.setenv("TALKIE_SOUNDS", str(tmp_path / "bank"))
    assert len(recordings()) == 4


def test_catalogue_and_credit_parsing() -> None:
    wave = clip(1, "WAV", 22050)
    description = (
        '"Horse". Original "neigh.wav" by "dobroide". License: Creative Commons Attribution 3.0 Unported.'
    )
    name = description.encode() + b"\0"
    data = struct.pack("<II", 8 | 0x80000000, len(wave)) + bytes([len(name)]) + name + wave
    (entry,) = read_cat(data)
    assert entry.wave == wave and entry.description == description
    assert parse_credit(entry.description) == ("Horse", "CC-BY-3.0", 'Original "neigh.wav" by "dobroide".')
    with pytest.raises(ValueError):
        read_cat(data[:-100])  # the entry runs past the end
    with pytest.raises(ValueError):
        read_cat(struct.pack("<II", 8, 4) + b"\0" * 8)  # Transport Tycoon's own format


def test_copyright_globs_match_across_folders_and_last_wins() -> None:
    c = Copyright(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: A\nLicense: GPL-2+\n\n"
        "Files: base/*.ogg base/x?.wav\nCopyright: B\n C\nLicense: CC0\n text of it\n"
    )
    assert c.grant("base/deep/er/a.ogg") == c.grant("base/x1.wav")
    grant = c.grant("base/x1.wav")
    assert grant is not None and (grant.licence, grant.author) == ("CC0", "B; C")
    other = c.grant("base/x10.wav")
    assert other is not None and other.licence == "GPL-2+"
    assert Copyright("just prose: here\n").grant("anything") is None


@pytest.mark.parametrize("fmt", ["WAV", "OGG", "FLAC"])
def test_decode_refuses_truncated_files(fmt: str) -> None:
    whole = encoded(sound(3, seconds=1.5), fmt)
    x, rate, channels = decode(whole, "." + fmt.lower())
    assert rate == 44100 and channels == 1 and x.ndim == 1
    with pytest.raises(UnreadableAudio):
        decode(whole[: len(whole) * 2 // 3], "." + fmt.lower())


def test_convert_keeps_the_level_it_removed() -> None:
    t = np.arange(44100) / 44100
    x = np.stack(
        [0.2 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1
    )  # band-limited, so resampling keeps its power
    c = convert(encoded(x, "WAV"), ".wav")
    y = sf.read(io.BytesIO(c.flac))[0]
    assert c.source_channels == 2 and c.source_rate == 44100
    assert 20 * np.log10(np.abs(y).max()) == pytest.approx(-1.0, abs=0.01)
    # undoing the gain gives back the source's level (the RMS of its channel mean)
    assert np.sqrt(np.mean(y**2)) * 10 ** (-c.gain_db / 20) == pytest.approx(
        np.sqrt(np.mean(x[:, 0] ** 2)), rel=0.01
    )
    assert y.shape[0] == round(x.shape[0] * SAMPLE_RATE / 44100)
