"""HTTP Range headers of the blob endpoint (RFC 9110 §14.1.2), one range at a time."""

from __future__ import annotations

import pytest

from hcx.api.routers.blobs import parse_range


@pytest.mark.parametrize(("header", "size", "expected"), [
    ("bytes=0-99", 1000, (0, 99)),
    ("bytes=100-", 1000, (100, 999)),
    ("bytes=900-5000", 1000, (900, 999)),  # the last byte is clamped to the blob
    ("bytes=-10", 1000, (990, 999)),
    ("bytes=-5000", 1000, (0, 999)),
    ("bytes=999-999", 1000, (999, 999)),
    (" bytes=0-0 ", 1, (0, 0)),
    ("bytes=1000-", 1000, None),  # starts past the end
    ("bytes=5-2", 1000, None),
    ("bytes=-0", 1000, None),
    ("bytes=-", 1000, None),
    ("bytes=0-1,5-6", 1000, None),  # several ranges are not served
    ("items=0-1", 1000, None),
    ("bytes=0-", 0, None),  # nothing to serve from an empty blob
])
def test_ranges(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected
