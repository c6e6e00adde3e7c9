"""RFC 8785 JSON Canonicalization Scheme (JCS), via the `rfc8785` package.

`canonical` takes the JSON data model only: dict with str keys, list/tuple, str, int within
±(2**53 - 1), finite float, bool and None. Anything else is refused with InvalidInput rather than
coerced, so that two parties never sign different readings of one value.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from hcx.errors import InvalidInput


def canonical(obj: object) -> bytes:
    """The RFC 8785 bytes of `obj` (UTF-8, no whitespace, keys sorted by UTF-16 code units)."""
    try:
        return rfc8785.dumps(obj)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:
        raise InvalidInput(f"not canonicalisable as JSON: {exc}") from exc
    except UnicodeError as exc:  # a lone surrogate in an object key
        raise InvalidInput("not canonicalisable as JSON: a string is not valid Unicode") from exc
    except RecursionError as exc:
        raise InvalidInput("not canonicalisable as JSON: nested too deeply") from exc


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise InvalidInput("a JSON object repeats a key")
    return result


def _refuse_constant(name: str) -> object:
    raise InvalidInput(f"{name} is not JSON")


_SAFE_INTEGER = 2**53 - 1


def _parse_int(text: str) -> int | float:
    # RFC 8785 numbers are IEEE 754 doubles: canonical(2.0**53) is "9007199254740992", which must
    # read back as that double, not as an int outside the range JCS accepts for ints.
    value = int(text)
    return value if -_SAFE_INTEGER <= value <= _SAFE_INTEGER else float(text)


def parse_json(data: bytes) -> object:
    """Parse JSON strictly: UTF-8 only, no repeated keys, no NaN or Infinity; integers beyond
    ±(2**53 - 1) are read as doubles, so that canonical(parse_json(canonical(x))) == canonical(x)."""
    return _parse(data, _parse_int, float)


def parse_canonical(data: bytes) -> object:
    """Parse JSON as `parse_json` does, and refuse it unless `data` is its RFC 8785 canonical form.

    Most signed documents hold no number but integers and no character outside the Basic
    Multilingual Plane; for those, Python's own encoder with sorted keys writes exactly the RFC 8785
    bytes (same escapes, code-point order equals UTF-16 order in that plane), at C speed. Anything
    else, or any difference, is decided by `canonical` itself."""
    saw_double = False

    def as_int(text: str) -> int | float:
        nonlocal saw_double
        value = _parse_int(text)
        saw_double = saw_double or isinstance(value, float)
        return value

    def as_double(text: str) -> float:
        nonlocal saw_double
        saw_double = True
        return float(text)

    obj = _parse(data, as_int, as_double)
    if not saw_double and max(data, default=0) < 0xF0:  # no 4-byte UTF-8 sequence: every character in the BMP
        try:
            if json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8") == data:
                return obj
        except UnicodeError:  # a lone surrogate: canonical() below refuses it
            pass
    if canonical(obj) != data:
        raise InvalidInput("not in RFC 8785 canonical form")
    return obj


def _parse(data: bytes, parse_int: Any, parse_float: Any) -> object:
    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant,
                          parse_int=parse_int, parse_float=parse_float)
    except UnicodeDecodeError as exc:
        raise InvalidInput("not UTF-8") from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or an int of over 4300 digits
        raise InvalidInput(f"not JSON: {exc}") from exc
