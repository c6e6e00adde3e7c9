"""RFC 8785 JSON Canonicalization Scheme (JCS), via the `rfc8785` package.

`canonical` takes the JSON data model only: dict with str keys, list/tuple, str, int within
±(2**53 - 1), finite float, bool and None. Anything else is refused with InvalidInput rather than
coerced, so that two parties never sign different readings of one value.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

from hcx.errors import InvalidInput

_SAFE_INTEGER = 2**53 - 1
_OUTSIDE_BMP = re.compile(rb"[\xf0-\xff]")  # lead bytes of 4-byte UTF-8 sequences


def _in_bmp(data: bytes) -> bool:
    return data.isascii() or _OUTSIDE_BMP.search(data) is None


def _integers_and_strings(obj: object) -> bool:
    """Whether `obj` holds no number but safe integers, and only string keys (strings are
    checked for the Basic Multilingual Plane on the encoded bytes)."""
    if isinstance(obj, str) or obj is None or isinstance(obj, bool):
        return True
    if isinstance(obj, int):
        return -_SAFE_INTEGER <= obj <= _SAFE_INTEGER
    if isinstance(obj, dict):
        return all(isinstance(k, str) for k in obj) and all(_integers_and_strings(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return all(_integers_and_strings(v) for v in obj)
    return False


def canonical(obj: object) -> bytes:
    """The RFC 8785 bytes of `obj` (UTF-8, no whitespace, keys sorted by UTF-16 code units).

    For a document of safe integers and strings of the Basic Multilingual Plane (most of ours,
    and every large one: base64 in a string), Python's encoder with sorted keys writes exactly
    those bytes (same escapes; code-point order is UTF-16 order in that plane), at C speed;
    anything else goes to `rfc8785`, which also refuses what is not JSON."""
    try:
        if _integers_and_strings(obj):
            data = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
            if _in_bmp(data):
                return data
    except (UnicodeError, RecursionError):  # a lone surrogate, deep nesting: refused below
        pass
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
    """Parse JSON as `parse_json` does, and refuse it unless `data` is its RFC 8785 canonical form."""
    obj = parse_json(data)
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
