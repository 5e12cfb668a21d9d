from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinval.batch import SignatureBatch, parse_batches
from coinval.signature import Signature, SignatureError, echo_id, parse_signature


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
        # A numeric string or a null is not a sample, whatever a converter makes of it.
        ({"eddy_lo": [0.0] * 39 + ["1.5"]}, "eddy_lo", "sample 39 is not a number"),
        ({"rim": [1.0] * 63 + [None]}, "rim", "sample 63 is not a number"),
        ({"eddy_hi": [0.0] * 39 + [10**400]}, "eddy_hi", "finite"),
        ({"thickness_mm": 10**400}, "thickness_mm", "finite"),
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


def _row(batch: SignatureBatch, k: int) -> tuple[Any, ...]:
    return (
        batch.eddy_lo[k].tolist(),
        batch.eddy_hi[k].tolist(),
        float(batch.eddy_rate_hz[k]),
        batch.rim[k].tolist(),
        float(batch.thickness_mm[k]),
        float(batch.speed_mm_s[k]),
        float(batch.temperature_c[k]),
        batch.ids[k],
    )


def _sig_row(sig: Signature) -> tuple[Any, ...]:
    return (
        sig.eddy_lo.tolist(),
        sig.eddy_hi.tolist(),
        sig.eddy_rate_hz,
        sig.rim.tolist(),
        sig.thickness_mm,
        sig.speed_mm_s,
        sig.temperature_c,
        sig.id,
    )


def assert_columnar_path_agrees(objs: list[Any]) -> None:
    """parse_batches accepts only what parse_signature accepts, with the same values."""
    groups, rest = parse_batches(objs)
    seen = sorted([i for idx, _ in groups for i in idx] + rest)
    assert seen == list(range(len(objs)))
    assert rest == sorted(rest)
    for idx, batch in groups:
        assert idx == sorted(idx) and len(batch) == len(idx)
        for k, i in enumerate(idx):
            assert _row(batch, k) == _sig_row(parse_signature(objs[i]))


def test_columnar_path_takes_plain_signatures_and_leaves_the_rest() -> None:
    objs: list[Any] = [
        valid(),
        valid(eddy_lo=[True] + [0.0] * 39),
        valid(rim=[1.0] * 100, id=None),
        valid(eddy_lo=[0.0] * 39 + ["1.5"]),
        valid(eddy_lo=[0.0] * 39 + [None]),
        valid(thickness_mm=10),
        valid(eddy_lo=[1, 0, 2**64 - 1] + [0.5] * 37),
        "nonsense",
        valid(head=3),
        valid(eddy_rate_hz=math.inf),
        valid(eddy_hi=[-0.0] * 40, head="h"),
    ]
    groups, rest = parse_batches(objs)
    assert rest == [1, 3, 4, 5, 7, 8, 9]
    assert sorted(i for idx, _ in groups for i in idx) == [0, 2, 6, 10]
    assert_columnar_path_agrees(objs)


@given(st.lists(st.dictionaries(st.sampled_from(list(valid())), json_values), max_size=4))
def test_columnar_path_agrees_with_parse_signature_on_garbage(
    changes: list[dict[str, Any]],
) -> None:
    assert_columnar_path_agrees([{**valid(), **c} for c in changes])


@given(
    st.lists(
        st.lists(
            st.floats(allow_nan=True, allow_infinity=True)
            | st.integers(-(2**63), 2**64 - 1)
            | st.booleans()
            | st.none(),
            min_size=32,
            max_size=34,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_columnar_path_agrees_on_odd_samples(traces: list[list[Any]]) -> None:
    objs = [valid(eddy_lo=t, eddy_hi=t[::-1]) for t in traces]
    assert_columnar_path_agrees(objs)


def test_loss_traces_are_optional_and_kept_when_given() -> None:
    v1 = parse_signature(valid())
    assert not v1.has_loss and "eddy_lo_loss" not in v1.to_json_dict()
    v11 = parse_signature(valid(eddy_lo_loss=[0.5] * 40, eddy_hi_loss=[0.25] * 40))
    assert v11.has_loss
    assert v11.eddy_hi_loss is not None and v11.eddy_hi_loss[3] == 0.25
    assert parse_signature(v11.to_json_dict()).has_loss


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"eddy_lo_loss": [0.0] * 40}, "eddy_hi_loss", "both or neither"),
        ({"eddy_hi_loss": [0.0] * 40}, "eddy_lo_loss", "both or neither"),
        ({"eddy_lo_loss": [0.0] * 41, "eddy_hi_loss": [0.0] * 41}, "eddy_lo_loss", "same length"),
        ({"eddy_lo_loss": [0.0] * 40, "eddy_hi_loss": "x"}, "eddy_hi_loss", "array"),
        (
            {"eddy_lo_loss": [0.0] * 39 + [math.inf], "eddy_hi_loss": [0.0] * 40},
            "eddy_lo_loss",
            "finite",
        ),
        (
            {"eddy_lo_loss": [0.0] * 39 + [True], "eddy_hi_loss": [0.0] * 40},
            "eddy_lo_loss",
            "number",
        ),
    ],
)
def test_bad_loss_traces_are_refused_with_the_rule(
    changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(SignatureError) as err:
        parse_signature(valid(**changes))
    assert err.value.field == field and words in err.value.rule


def test_columnar_parse_keeps_loss_traces_and_agrees_with_parse_signature() -> None:
    objects = [
        valid(id="a"),
        valid(id="b", eddy_lo_loss=[0.5] * 40, eddy_hi_loss=[0.25] * 40),
        valid(id="c", eddy_lo_loss=[0.5] * 40),
        valid(id="d", eddy_lo_loss=[0.5] * 39 + [None], eddy_hi_loss=[0.25] * 40),
    ]
    groups, rest = parse_batches(objects)
    by_id = {batch.ids[0]: batch for _, batch in groups}
    assert set(by_id) == {"a", "b"}
    assert not by_id["a"].has_loss and by_id["b"].has_loss
    assert by_id["b"].signatures()[0].has_loss
    assert rest == [2, 3]
    for i in rest:
        with pytest.raises(SignatureError):
            parse_signature(objects[i])
    mixed = SignatureBatch.from_signatures([parse_signature(objects[1])])
    assert mixed.eddy_lo_loss is not None and mixed.take([0]).has_loss
