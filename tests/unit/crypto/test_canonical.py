"""RFC 8785 canonical JSON: examples, refusals, and the round-trip property."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcx.crypto.canonical import canonical, parse_canonical, parse_json
from hcx.errors import InvalidInput
from tests.unit.crypto.test_envelope import json_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, None, "x"]}, b'{"a":[true,null,"x"],"b":1}'),
        ({"\u20ac": 1, "\r": 2, "\U0001f600": 3, "\ufb33": 4}, '{"\\r":2,"\u20ac":1,"\U0001f600":3,"\ufb33":4}'.encode()),
        ([1.0, -0.0, 1e21, 1e-7, 0.1 + 0.2], b"[1,0,1e+21,1e-7,0.30000000000000004]"),
        ("\u2028</script>\x1f", b'"\xe2\x80\xa8</script>\\u001f"'),
        ((1, 2), b"[1,2]"),
    ],
    ids=["sorted", "utf16-order", "numbers", "escapes", "tuple"],
)
def test_examples(value: object, expected: bytes) -> None:
    assert canonical(value) == expected


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -float("inf"), 2**53, -(2**53), b"x", {1: "x"}, {"\ud800": 1}, "\udfff", object(), {1, 2}],
    ids=["nan", "inf", "-inf", "big-int", "small-int", "bytes", "int-key", "surrogate-key", "surrogate", "object", "set"],
)
def test_refuses_non_json(value: object) -> None:
    with pytest.raises(InvalidInput):
        canonical(value)


def test_refuses_deep_nesting() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(InvalidInput, match="deeply"):
        canonical(value)


@given(value=json_value)
def test_round_trip(value: object) -> None:
    once = canonical(value)
    assert canonical(parse_json(once)) == once


@given(value=st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip(value: float) -> None:
    assert canonical(parse_json(canonical(value))) == canonical(value)


def test_large_integral_doubles_read_back_as_doubles() -> None:
    """canonical(2.0**53) is "9007199254740992"; the stdlib would read it back as an int that JCS
    refuses. parse_json reads it as the double it was."""
    text = canonical(2.0**60)
    assert text == b"1152921504606847000"
    assert parse_json(text) == 2.0**60 and isinstance(parse_json(text), float)
    assert canonical(parse_json(text)) == text


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"\xff", b'{"a":1,"a":2}', b"NaN", b"[Infinity]", b"-Infinity", b"1" * 5000, b"[" * 100_000],
    ids=["empty", "open", "not-utf8", "duplicate", "nan", "inf", "-inf", "huge-int", "deep"],
)
def test_parse_json_refuses(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_json(data)


def _spellings(value: object) -> list[bytes]:
    """Ways other programs write `value`: some canonical by chance, most not."""
    import json

    texts = [json.dumps(value), json.dumps(value, ensure_ascii=False, separators=(",", ":")),
             json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
             json.dumps(value, sort_keys=True, indent=1)]
    return [text.encode("utf-8", "surrogatepass") for text in texts] + [canonical(value)]


@given(value=json_value)
def test_parse_canonical_accepts_a_spelling_exactly_when_it_is_the_canonical_one(value: object) -> None:
    for data in _spellings(value):
        if canonical(parse_json(data)) == data:
            assert parse_canonical(data) == parse_json(data)
        else:
            with pytest.raises(InvalidInput, match="canonical"):
                parse_canonical(data)


@pytest.mark.parametrize("data", [b'{"a":2.0}', b'{"a":1e-07}', b"[9007199254740993]", b'{"\xef\xac\xb3":1,"\xf0\x9f\x98\x80":2}',
                                  b'"\\u00e9"', b'{"b":1,"a":1}', b'"\\ud800"'],
                         ids=["integral-double", "exponent", "big-int", "utf16-order", "escaped-letter", "unsorted",
                              "surrogate"])
def test_parse_canonical_refuses_what_only_python_would_write_so(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_canonical(data)


@given(value=json_value)
def test_the_fast_path_writes_what_rfc8785_writes(value: object) -> None:
    import rfc8785

    assert canonical(value) == rfc8785.dumps(value)  # type: ignore[arg-type]


@given(text=st.text(), key=st.text(), number=st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1))
def test_the_fast_path_on_any_text(text: str, key: str, number: int) -> None:
    import rfc8785

    value = {key: [text, number, {"z": text, key + "a": None}], "k": True}
    assert canonical(value) == rfc8785.dumps(value)
