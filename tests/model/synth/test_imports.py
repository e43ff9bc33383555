from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from model.synth import make_film

REPO = Path(__file__).resolve().parents[3]


def test_synth_needs_neither_beam_nor_torch():
    code = (
        "import sys, model.synth; "
        "bad = [m for m in ('apache_beam', 'torch') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_negative_seed_is_refused():
    with pytest.raises(ValueError, match="seed=-1"):
        make_film(-1)
