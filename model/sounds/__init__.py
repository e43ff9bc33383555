"""The sound bank: real recordings from Debian's archive, sorted into the classes archival films need.

    python -m model.sounds [--out DIR] [--packages NAME ...]

    from model.sounds import build_bank, recordings
    summary = build_bank("~/.cache/talkie/sounds")               # downloads, converts, writes the manifest
    takes = recordings(summary.bank_dir, cls="footsteps", split="train")

Recordings come only from Debian packages, fetched by name and unpacked without installing them
(``apt-get download`` and ``dpkg-deb``; fetch.py). Each package has its own rules (sources.py):
where its sounds are, which class each file belongs to, and which files stay out (speech, music,
game-interface sounds, science-fiction weapons, anything whose content a name does not make clear).
Every recording is stored as 48 kHz mono 16-bit FLAC, peak-normalised to -1 dBFS (audio.py), under
``<bank>/<class>/<package>/<name>.flac``; ``manifest.jsonl`` has one row per recording with its
licence and authors, and a fixed split holds some of every class out of training (bank.py).
``ATTRIBUTION`` credits every package, and ``build.log`` names every file left out or unreadable.

The bank lives outside the repository (``TALKIE_SOUNDS``, default ``~/.cache/talkie/sounds``) and
is never committed. Only numpy, scipy and soundfile are needed (no Beam, no torch).
"""

from .bank import (
    DEFAULT_PACKAGES,
    BankRecording,
    BankSummary,
    build_bank,
    default_bank_dir,
    load_manifest,
    recordings,
)
from .classes import CLASSES
from .fetch import AptFetcher, Fetched, Fetcher, LocalFetcher

__all__ = [
    "CLASSES",
    "DEFAULT_PACKAGES",
    "AptFetcher",
    "BankRecording",
    "BankSummary",
    "Fetched",
    "Fetcher",
    "LocalFetcher",
    "build_bank",
    "default_bank_dir",
    "load_manifest",
    "recordings",
]
