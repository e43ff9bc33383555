"""Type checks of settings and manifest values: Python's ``bool`` is an ``int``, and a flag or a
manifest cell that says ``true`` must not pass as the number 1.

The callers keep their own messages (they name the setting and what it accepts); these say only
whether a value is of the kind.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard


def is_whole(value: Any) -> TypeGuard[int]:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    """An ``int`` or ``float`` that is not a ``bool`` (NaN and infinities included)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value: Any) -> TypeGuard[int | float]:
    """A number (``is_number``) that is neither NaN nor infinite."""
    return is_number(value) and math.isfinite(value)
