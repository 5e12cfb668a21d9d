from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinval.signature import SignatureError, echo_id, parse_signature


def valid(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "eddy_lo": [0.0] * 40,
        "eddy_hi": [0.0] * 40,
        "eddy_rate_hz": 2000.0,
        "rim": [11.0] * 64,
        "thickness_mm": 2.8,
        "speed_mm_s": 400,
        "temperature_c": 20,
        "id": "c1",
    }
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not ...}


def test_valid_signature_parses_with_any_length_in_range() -> None:
    sig = parse_signature(valid(eddy_lo=[1.0] * 4096, eddy_hi=[2.0] * 4096, rim=[5.0] * 8192))
    assert sig.eddy_lo.shape == (4096,) and sig.rim.shape == (8192,)
    assert sig.id == "c1"


def test_unknown_fields_are_ignored() -> None:
    assert parse_signature(valid(extra={"x": 1})).thickness_mm == 2.8


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"eddy_lo": ...}, "eddy_lo", "required"),
        ({"eddy_lo": [0.0] * 31, "eddy_hi": [0.0] * 31}, "eddy_lo", "32 to 4096"),
        ({"eddy_lo": [0.0] * 4097, "eddy_hi": [0.0] * 4097}, "eddy_lo", "32 to 4096"),
        ({"eddy_hi": [0.0] * 41}, "eddy_hi", "same length"),
        ({"eddy_lo": "abc"}, "eddy_lo", "array"),
        ({"eddy_lo": [0.0] * 39 + ["x"]}, "eddy_lo", "array of numbers"),
        ({"eddy_lo": [0.0] * 39 + [True]}, "eddy_lo", "array of numbers"),
        ({"eddy_lo": [0.0] * 39 + [math.nan]}, "eddy_lo", "finite"),
        ({"eddy_lo": [[0.0]] * 40}, "eddy_lo", "array of numbers"),
        ({"eddy_rate_hz": 0}, "eddy_rate_hz", "> 0"),
        ({"eddy_rate_hz": "fast"}, "eddy_rate_hz", "number"),
        ({"eddy_rate_hz": math.inf}, "eddy_rate_hz", "finite"),
        ({"rim": [1.0] * 63}, "rim", "64 to 8192"),
        ({"rim": [1.0] * 8193}, "rim", "64 to 8192"),
        ({"thickness_mm": 0}, "thickness_mm", "> 0 and < 10"),
        ({"thickness_mm": 10}, "thickness_mm", "> 0 and < 10"),
        ({"speed_mm_s": 5000}, "speed_mm_s", "< 5000"),
        ({"speed_mm_s": -1}, "speed_mm_s", "> 0"),
        ({"temperature_c": -40.5}, "temperature_c", "-40 to 85"),
        ({"temperature_c": 85.1}, "temperature_c", "-40 to 85"),
        ({"temperature_c": True}, "temperature_c", "number"),
        ({"id": "x" * 65}, "id", "64"),
        ({"id": 7}, "id", "string"),
        ({"head": 7}, "head", "string"),
    ],
)
def test_each_rule_broken_names_field_and_rule(
    changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(SignatureError) as err:
        parse_signature(valid(**changes))
    assert err.value.field == field
    assert words in err.value.rule


def test_boundaries_are_inclusive_where_the_spec_says() -> None:
    parse_signature(valid(temperature_c=-40))
    parse_signature(valid(temperature_c=85))
    parse_signature(valid(eddy_lo=[0.0] * 32, eddy_hi=[0.0] * 32, rim=[1.0] * 64))


def test_not_an_object() -> None:
    with pytest.raises(SignatureError) as err:
        parse_signature([1, 2, 3])
    assert err.value.field == "$"


def test_echo_id_only_for_valid_ids() -> None:
    assert echo_id({"id": "a"}) == "a"
    assert echo_id({"id": 3}) is None
    assert echo_id("nonsense") is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(list(valid())), json_values))
def test_garbage_raises_only_signature_error(obj: dict[str, Any]) -> None:
    merged = {**valid(), **obj}
    try:
        sig = parse_signature(merged)
    except SignatureError:
        return
    assert np.isfinite(sig.eddy_lo).all() and sig.eddy_lo.shape == sig.eddy_hi.shape
