"""Fixtures for media tests."""

from __future__ import annotations

import numpy as np
import pytest

from tests.films import encode


@pytest.fixture
def film(tmp_path):
    """film(name, frames, fps=24, rotation=0) -> path of an encoded MP4 under tmp_path."""

    def make(name: str, frames: np.ndarray, fps: int = 24, **kwargs) -> str:
        return str(encode(tmp_path / name, frames, fps, **kwargs))

    return make
