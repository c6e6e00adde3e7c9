"""LibraryOfCongress/bagit-conformance-suite (../shared/conformance/bagit, see SOURCES.md).

v1.0: every `valid` bag is accepted and every `invalid` bag refused. v0.97 (the suite's older
sets): hcx writes and accepts BagIt 1.0 only, so every v0.97 bag, valid or not, is refused, and
refused for its version or an older-format trait before anything else is trusted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hcx.evidence.bagit import check_bag
from tests.conftest import CONFORMANCE

SUITE = CONFORMANCE / "bagit"


def bags(kind: str) -> list[Path]:
    return sorted(p for p in (SUITE / kind).iterdir() if p.is_dir())


@pytest.mark.parametrize("bag", bags("v1.0/valid"), ids=lambda p: p.name)
def test_valid_v1_bags_are_accepted(bag: Path) -> None:
    report = check_bag(bag)
    assert report.valid, [str(p) for p in report.problems]


@pytest.mark.parametrize("bag", bags("v1.0/invalid"), ids=lambda p: p.name)
def test_invalid_v1_bags_are_refused(bag: Path) -> None:
    assert not check_bag(bag).valid


@pytest.mark.parametrize("bag", [b for kind in ("valid", "invalid", "warning", "linux-only", "windows-only")
                                 for b in bags(f"v0.97/{kind}")], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_v0_97_bags_are_refused_for_their_version_or_format(bag: Path) -> None:
    problems = check_bag(bag).problems
    assert problems
    assert problems[0].path == "bagit.txt", problems[0]


def test_the_suite_is_there() -> None:
    assert len(bags("v1.0/valid")) >= 1 and len(bags("v1.0/invalid")) >= 4
