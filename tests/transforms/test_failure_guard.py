"""The one failure guard of the DoFns, and the bool-aware type checks."""

from __future__ import annotations

import math

import pytest

from transforms.checks import is_finite, is_number, is_whole
from transforms.failures import FAILURES, MAX_ERROR_CHARS, Failure, FailureGuard


def test_the_guard_turns_an_exception_into_a_tagged_failure():
    guard = FailureGuard("some_stage")
    with guard.catching() as caught:
        raise OSError("user:secret@ no such bucket")
    assert isinstance(caught.error, OSError)
    tagged = guard.failure(
        caught.error, uri="gs://user:secret@b/f.mp4", film_id="f", prefix="scene 2: ", suffix=" (shard s)"
    )
    assert tagged.tag == FAILURES
    error = "scene 2: user:secret@ no such bucket (shard s)"
    assert tagged.value == Failure(
        uri="gs://***@b/f.mp4", film_id="f", stage="some_stage", error_type="OSError", error=error
    )


def test_the_guard_leaves_a_finished_block_alone_and_bounds_messages():
    guard = FailureGuard("s", tag=None)
    with guard.catching() as caught:
        value = 1
    assert caught.error is None and value == 1
    failure = guard.failure(ValueError("x" * 5000), uri="/f.mp4", film_id=None, suffix="!")
    assert isinstance(failure, Failure) and len(failure.error) == MAX_ERROR_CHARS + 1


def test_the_guard_catches_only_what_it_is_told():
    guard = FailureGuard("s", catches=KeyError)
    with guard.catching() as caught:
        raise KeyError("k")
    assert isinstance(caught.error, KeyError)
    with pytest.raises(ValueError), guard.catching():
        raise ValueError("not a row's failure")


def test_type_checks_refuse_bools():
    assert is_whole(3) and not is_whole(True) and not is_whole(3.0) and not is_whole("3")
    assert is_number(3) and is_number(2.5) and is_number(math.nan) and not is_number(False)
    assert is_finite(-1.5) and not is_finite(math.inf) and not is_finite(math.nan) and not is_finite(True)
