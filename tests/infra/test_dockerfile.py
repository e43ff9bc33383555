"""infra/Dockerfile, checked statically (no image can be built on the test machines): pinned base
images, Beam's boot files from the SDK image of setup.py's Beam and this Python as the worker's
entrypoint, torch from the CUDA base within setup.py's range, the lock satisfying setup.py, the
default checkpoint baked in, every copied path present, and nothing fetched or secret."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path, PurePosixPath

import apache_beam
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from infra.pins import LOCK, lock_problems, read_lock, setup_requirements
from tests.conftest import REPO
from tests.infra.dockerfile import effective, instructions, lineage, stages

DOCKERFILE = REPO / "infra" / "Dockerfile"
BOOT = "/opt/apache/beam/boot"
_IMAGE = re.compile(
    r"^(?P<repository>[\w.\-/:]+?)(?::(?P<tag>[\w.\-]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@pytest.fixture(scope="module")
def parsed():
    return instructions(DOCKERFILE)


@pytest.fixture(scope="module")
def all_stages(parsed):
    return stages(parsed)


def stage(all_stages, name):
    [found] = [s for s in all_stages if s.name == name]
    return found


def requirement(name: str) -> Requirement:
    [found] = [Requirement(r) for r in setup_requirements() if Requirement(r).name == name]
    return found


def test_every_base_image_is_pinned(all_stages):
    names = {s.name for s in all_stages if s.name}
    for each in all_stages:
        if each.base in names:
            continue
        image = _IMAGE.match(each.base)
        assert image and (image["tag"] or image["digest"]), f"FROM {each.base}: pin a tag or digest"
        assert "$" not in each.base, f"FROM {each.base}: an ARG without a default"
        assert image["tag"] != "latest" and not (image["tag"] or "").endswith("-latest"), each.base


def test_the_worker_runs_beams_boot_from_the_matching_sdk_image(all_stages):
    [beam_pin] = requirement("apache-beam").specifier
    assert beam_pin.operator == "==" and beam_pin.version == apache_beam.__version__
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    sdk = stage(all_stages, "beam_sdk")
    assert sdk.base == f"apache/beam_python{python}_sdk:{beam_pin.version}"
    worker = all_stages[-1]
    assert worker.name == "worker", "the default target (the last stage) must be the worker"
    copies = [c for s in lineage(all_stages, worker) for c in s.all("COPY")]
    assert any(c.words() == ["--from=beam_sdk", "/opt/apache/beam", "/opt/apache/beam"] for c in copies)
    assert effective(all_stages, worker, "ENTRYPOINT").exec_form() == [BOOT]
    assert effective(all_stages, stage(all_stages, "worker-base"), "ENTRYPOINT").exec_form() == [BOOT]


def test_torch_comes_from_a_cuda_base_within_setup_pys_range(all_stages):
    base = stage(all_stages, "worker-base").base
    found = re.fullmatch(
        r"pytorch/pytorch:(?P<torch>\d+\.\d+\.\d+)-cuda(?P<cuda>\d+\.\d+)-cudnn\d+-runtime", base
    )
    assert found, f"{base}: expected pytorch/pytorch:<torch>-cuda<version>-cudnn<N>-runtime"
    assert requirement("torch").specifier.contains(Version(found["torch"])), (
        found["torch"],
        requirement("torch"),
    )
    assert Version(found["cuda"]) >= Version("12.0")  # NVIDIA L4 on Dataflow needs CUDA 12


def test_the_image_installs_talkie_with_the_lock_that_satisfies_setup_py(all_stages):
    assert lock_problems(setup_requirements(), read_lock()) == []
    assert "torch" not in read_lock()  # the CUDA base's torch must not be replaced by a CPU build
    base = stage(all_stages, "worker-base")
    copies = {c.words()[-1]: c.words()[:-1] for c in base.all("COPY") if not c.text.startswith("--from")}
    assert copies["/opt/talkie/worker-requirements.lock"] == [str(LOCK.relative_to(REPO))]
    [install] = [r.text for r in base.all("RUN") if "pip install" in r.text]
    words = install.split()
    assert (
        "--constraint" in words
        and words[words.index("--constraint") + 1] == "/opt/talkie/worker-requirements.lock"
    )
    assert " -e " not in f" {install} " and "--editable" not in install  # site-packages, weights included
    assert "pip check" in install
    for package in ("setup.py", "media", "model", "transforms", "pipelines"):
        assert any(sources == [package] for sources in copies.values()), f"{package} is not copied"


def test_the_default_checkpoint_is_baked_in(all_stages):
    tree = ast.parse((REPO / "setup.py").read_text())
    package_data = next(
        kw.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "package_data"
    )
    assert "weights/*.safetensors" in ast.literal_eval(package_data)["model"]
    assert (REPO / "model" / "weights" / "tiny.safetensors").is_file()
    base = stage(all_stages, "worker-base")
    assert any("DEFAULT_CHECKPOINT.is_file()" in r.text for r in base.all("RUN"))
    assert any(c.words() == ["infra/checkpoints/", "/opt/talkie/checkpoints/"] for c in base.all("COPY"))


def image_to_repo(all_stages, image_path: str) -> Path | None:
    """The repository file that COPY puts at ``image_path`` in the worker stages, if any."""
    for each in all_stages:
        for copy in each.all("COPY"):
            words = copy.words()
            if words[0].startswith("--from"):
                continue
            *sources, destination = words
            for source in sources:
                target = (
                    PurePosixPath(destination) / PurePosixPath(source).name
                    if destination.endswith("/") and len(sources) > 1
                    else PurePosixPath(destination)
                )
                image = PurePosixPath(image_path)
                if image == target:
                    return REPO / source
                if target in image.parents:
                    return REPO / source / image.relative_to(target)
    return None


def test_every_copied_path_exists_and_the_build_context_admits_it(all_stages):
    ignore = (REPO / "infra" / "Dockerfile.dockerignore").read_text().splitlines()
    admitted = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, "the build context should admit only what the Dockerfile copies"
    for each in all_stages:
        for copy in each.all("COPY"):
            words = copy.words()
            if words[0].startswith("--from"):
                continue
            for source in words[:-1]:
                assert (REPO / source).exists(), f"line {copy.line}: COPY {source}: no such path"
                top = PurePosixPath(source).parts[0]
                assert top in admitted, f"line {copy.line}: {source} is outside the build context"


def test_the_flex_launcher_runs_the_template_entry_point(all_stages):
    launcher = stage(all_stages, "flex-launcher")
    assert effective(all_stages, launcher, "ENTRYPOINT").exec_form() == [
        "/opt/google/dataflow/python_template_launcher"
    ]
    [entry] = [
        e.text.split("=", 1)[1]
        for e in launcher.all("ENV")
        if e.text.startswith("FLEX_TEMPLATE_PYTHON_PY_FILE=")
    ]
    source = image_to_repo(all_stages, entry)
    assert source is not None and source == REPO / "infra" / "dataflow" / "flex_main.py" and source.is_file()
    assert any(e.text.startswith("TALKIE_WORKER_IMAGE=") for e in launcher.all("ENV"))
    smoke = image_to_repo(all_stages, "/opt/talkie/infra/gpu_smoke.sh")
    assert smoke is not None and smoke.is_file()


def test_nothing_is_fetched_at_build_time_and_no_secret_is_baked(parsed):
    for instruction in parsed:
        assert instruction.keyword != "ADD", (
            f"line {instruction.line}: use COPY (ADD fetches URLs and unpacks archives)"
        )
        if instruction.keyword == "RUN":
            assert not re.search(r"\b(curl|wget)\b|https?://", instruction.text), f"line {instruction.line}"
        if instruction.keyword in ("ARG", "ENV"):
            names = re.findall(r"(\w+)=", instruction.text) or [instruction.text.split()[0]]
            for name in names:
                assert not re.search(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", name, re.I), (
                    f"line {instruction.line}: {name}"
                )
