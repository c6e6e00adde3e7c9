"""STIX 2.1 import: a bundle (or one lone object), each object checked by `stix2`.

Indicators come from `indicator` objects with STIX patterns (each `=` comparison on a path in
`stix_mapping.PATH_KINDS`) and from cyber-observables (`ipv4-addr`, `domain-name`, `file` …),
including those embedded in STIX 2.0-style `observed-data`. Everything else is counted in
`skipped` by object type (or by pattern path / operator); an object `stix2` refuses, and a value
that does not normalise, is a rejection naming the object id. Markings: `object_marking_refs` and
the `marking_ref`s of `granular_markings` (kept whole: the stricter reading).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

import stix2
from stix2patterns.exceptions import ParseException
from stix2patterns.v21.pattern import Pattern

from hcx.errors import InvalidInput
from hcx.indicators.bounded_json import DEFAULT_MAX_JSON_BYTES, read_json
from hcx.indicators.markings import PAP_TAGS
from hcx.indicators.model import ImportReport, ReportBuilder, SourceRef
from hcx.indicators.reading import ValueReader
from hcx.indicators.stix_mapping import HANDLE_LOGIN_PATH, HANDLE_PLATFORM_PATH, HANDLE_TYPE, PATH_KINDS, SCO_PROPERTIES

_ESCAPE = re.compile(r"\\(['\\])")
_STIX_ERRORS = (stix2.exceptions.STIXError, ValueError, TypeError, KeyError)


def import_stix(
    stream: IO[bytes],
    *,
    name: str,
    default_region: str | None,
    card_key: bytes,
    max_bytes: int = DEFAULT_MAX_JSON_BYTES,
) -> ImportReport:
    document = read_json(stream, name=name, max_bytes=max_bytes)
    objects = _objects(document, name)
    handling_tags = _handling_tags(objects)
    values = ValueReader(default_region, card_key)
    report = ReportBuilder()
    seen: set[tuple[str, str] | None] = set()
    for index, stix_object in enumerate(objects):
        identity = (
            (str(stix_object.get("id")), str(stix_object.get("modified"))) if isinstance(stix_object, dict) else None
        )
        if identity is not None and identity in seen:
            report.skip("duplicate object")
            continue
        if identity is not None:
            seen.add(identity)
        _read_object(stix_object, name, index, handling_tags, values, report)
    return report.build()


def _objects(document: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        raise InvalidInput(f"{name}: not a STIX bundle or object (no 'type')")
    if document["type"] != "bundle":
        return [document]
    objects = document.get("objects", [])
    if not isinstance(objects, list):
        raise InvalidInput(f"{name}: the bundle's 'objects' is not a list")
    return objects


def _handling_tags(objects: list[Any]) -> dict[str, str]:
    """Statement marking definitions named like `PAP:AMBER` stand for that handling tag."""
    tags = {}
    for candidate in objects:
        if isinstance(candidate, dict) and candidate.get("type") == "marking-definition":
            label = str(candidate.get("name", "")).strip().lower()
            if label in PAP_TAGS:
                tags[str(candidate.get("id"))] = label
    return tags


def _read_object(
    stix_object: Any,
    name: str,
    index: int,
    handling_tags: Mapping[str, str],
    values: ValueReader,
    report: ReportBuilder,
) -> None:
    if not isinstance(stix_object, dict):
        report.reject(SourceRef(name, f"object #{index}"), "not a JSON object")
        return
    source = SourceRef(name, str(stix_object.get("id", f"object #{index}")))
    try:
        stix2.parse(stix_object, allow_custom=True, version="2.1")
    except _STIX_ERRORS as exc:
        report.reject(source, f"invalid STIX object: {_first_line(exc)}")
        return
    object_type = stix_object["type"]
    markings = _markings(stix_object, handling_tags)
    if object_type == "indicator":
        _read_indicator(stix_object, source, markings, values, report)
    elif object_type in SCO_PROPERTIES:
        _read_observable(stix_object, source, markings, values, report)
    elif object_type == "observed-data" and isinstance(stix_object.get("objects"), dict):
        for embedded in stix_object["objects"].values():
            if isinstance(embedded, dict) and embedded.get("type") in SCO_PROPERTIES:
                _read_observable(embedded, source, markings, values, report)
            else:
                report.skip(str(embedded.get("type") if isinstance(embedded, dict) else "embedded non-object"))
    else:
        report.skip(object_type)


def _read_indicator(
    indicator: Mapping[str, Any], source: SourceRef, markings: list[str], values: ValueReader, report: ReportBuilder
) -> None:
    if indicator.get("pattern_type", "stix") != "stix":
        report.skip(f"indicator pattern_type {indicator['pattern_type']}")
        return
    try:
        comparisons = Pattern(indicator["pattern"]).inspect().comparisons
    except ParseException as exc:
        report.reject(source, f"unparsable STIX pattern: {exc}")
        return
    for object_type, tests in comparisons.items():
        if object_type == HANDLE_TYPE:
            _read_handle(tests, source, markings, values, report)
            continue
        for path_parts, operator, literal in tests:
            path = ".".join(part if isinstance(part, str) else "*" for part in path_parts)
            kind = PATH_KINDS.get((object_type, path))
            if kind is None:
                report.skip(f"pattern path {object_type}:{path}")
            elif operator != "=" or not _is_string_literal(literal):
                report.skip(f"pattern {object_type}:{path} {operator} (not an exact value)")
            else:
                values.read(report, kind, _unquote(literal), source=source, markings=markings)


def _read_handle(
    tests: list[tuple[list[Any], str, str]],
    source: SourceRef,
    markings: list[str],
    values: ValueReader,
    report: ReportBuilder,
) -> None:
    by_path: dict[str, list[str]] = {}
    for path_parts, operator, literal in tests:
        if operator == "=" and _is_string_literal(literal):
            by_path.setdefault(".".join(map(str, path_parts)), []).append(_unquote(literal))
    platforms, logins = by_path.get(HANDLE_PLATFORM_PATH, []), by_path.get(HANDLE_LOGIN_PATH, [])
    if len(platforms) == 1 and len(logins) == 1:
        values.read(report, f"handle:{platforms[0]}", logins[0], source=source, markings=markings)
    elif logins:
        report.reject(
            source, "user-account pattern needs exactly one account_type and one account_login to be a handle"
        )
    else:
        report.skip("pattern user-account without account_login")


def _read_observable(
    observable: Mapping[str, Any], source: SourceRef, markings: list[str], values: ValueReader, report: ReportBuilder
) -> None:
    object_type = str(observable["type"])
    properties: dict[str, Any] = {"value": observable.get("value")}
    hashes = observable.get("hashes")
    if isinstance(hashes, dict):
        properties.update({f"hashes.{algorithm}": digest for algorithm, digest in hashes.items()})
    for path, raw in properties.items():
        if raw is None:
            continue
        kind = PATH_KINDS.get((object_type, path))
        if kind is None:
            report.skip(f"observable {object_type}:{path}")
        else:
            values.read(report, kind, str(raw), source=source, markings=markings)


def _markings(stix_object: Mapping[str, Any], handling_tags: Mapping[str, str]) -> list[str]:
    refs = [str(ref) for ref in stix_object.get("object_marking_refs", [])]
    refs += [
        str(granular["marking_ref"])
        for granular in stix_object.get("granular_markings", [])
        if "marking_ref" in granular
    ]
    return [handling_tags.get(ref, ref) for ref in refs]


def _is_string_literal(literal: str) -> bool:
    return len(literal) >= 2 and literal[0] == literal[-1] == "'"


def _unquote(literal: str) -> str:
    """A STIX pattern string literal's text: only `\\'` and `\\\\` are escapes."""
    return _ESCAPE.sub(r"\1", literal[1:-1])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
