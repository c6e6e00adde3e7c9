"""RFC 8785 (JCS) vectors from cyberphone/json-canonicalization @ 19d51d7 (Apache-2.0).

Source and format: shared/conformance/SOURCES.md §3. canonical(parse(input/<name>.json))
must equal output/<name>.json byte for byte (no trailing newline); outhex/<name>.txt holds the
same bytes as hex and is checked too.
"""

from __future__ import annotations

import pytest

from hcx.crypto.canonical import canonical, parse_canonical, parse_json
from hcx.errors import InvalidInput
from tests.conftest import CONFORMANCE

JCS = CONFORMANCE / "jcs" / "testdata"
NAMES = sorted(path.stem for path in (JCS / "input").glob("*.json"))


def test_every_vector_is_found() -> None:
    assert NAMES == ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize("name", NAMES)
def test_canonical_matches(name: str) -> None:
    expected = (JCS / "output" / f"{name}.json").read_bytes()
    assert canonical(parse_json((JCS / "input" / f"{name}.json").read_bytes())) == expected
    assert bytes.fromhex((JCS / "outhex" / f"{name}.txt").read_text(encoding="ascii")) == expected


@pytest.mark.parametrize("name", NAMES)
def test_canonical_is_a_fixed_point(name: str) -> None:
    expected = (JCS / "output" / f"{name}.json").read_bytes()
    assert canonical(parse_json(expected)) == expected


@pytest.mark.parametrize("name", NAMES)
def test_parse_canonical_accepts_exactly_the_canonical_spelling(name: str) -> None:
    expected = (JCS / "output" / f"{name}.json").read_bytes()
    assert parse_canonical(expected) == parse_json(expected)
    given = (JCS / "input" / f"{name}.json").read_bytes()
    if given != expected:
        with pytest.raises(InvalidInput, match="canonical"):
            parse_canonical(given)
