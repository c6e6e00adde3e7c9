"""MISP event JSON import: the bare event, the `{"Event": …}` envelope of feeds and REST exports,
and the `{"response": [ … ]}` form of API answers.

Each attribute (top level or inside an object) is read by its MISP type through `MISP_TYPES`
(data). Composite types (`filename|md5`, `domain|ip` …) name which parts to read. Types that carry
no indicator hcx correlates (`filename`, `text`, `link` — a reference, not an indicator …) are
counted in `skipped`, as are deleted attributes and proposals (ShadowAttribute). Markings: the
`tlp:` / `pap:` tags of the event, its objects and the attribute itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from hcx.errors import InvalidInput
from hcx.indicators.bounded_json import DEFAULT_MAX_JSON_BYTES, read_json
from hcx.indicators.markings import marking_from_tag
from hcx.indicators.model import ImportReport, ReportBuilder, SourceRef
from hcx.indicators.reading import ValueReader

# MISP attribute type → (part index, kind hint) for each part of the value to read.
MISP_TYPES: Mapping[str, tuple[tuple[int, str], ...]] = {
    "ip-src": ((0, "ip"),),
    "ip-dst": ((0, "ip"),),
    "ip-src|port": ((0, "ip"),),
    "ip-dst|port": ((0, "ip"),),
    "domain": ((0, "domain"),),
    "hostname": ((0, "domain"),),
    "hostname|port": ((0, "domain"),),
    "domain|ip": ((0, "domain"), (1, "ip")),
    "url": ((0, "url"),),
    "email": ((0, "email"),),
    "email-src": ((0, "email"),),
    "email-dst": ((0, "email"),),
    "email-reply-to": ((0, "email"),),
    "whois-registrant-email": ((0, "email"),),
    "target-email": ((0, "email"),),
    "md5": ((0, "md5"),),
    "sha1": ((0, "sha1"),),
    "sha256": ((0, "sha256"),),
    "filename|md5": ((1, "md5"),),
    "filename|sha1": ((1, "sha1"),),
    "filename|sha256": ((1, "sha256"),),
    "malware-sample": ((1, "md5"),),
    "phone-number": ((0, "phone"),),
    "whois-registrant-phone": ((0, "phone"),),
    "iban": ((0, "iban"),),
    "bic": ((0, "bic"),),
    "cc-number": ((0, "card"),),
    "btc": ((0, "btc"),),
    "github-username": ((0, "github"),),
}


def import_misp(
    stream: IO[bytes],
    *,
    name: str,
    default_region: str | None,
    card_key: bytes,
    max_bytes: int = DEFAULT_MAX_JSON_BYTES,
) -> ImportReport:
    document = read_json(stream, name=name, max_bytes=max_bytes)
    values = ValueReader(default_region, card_key)
    report = ReportBuilder()
    for event in _events(document, name):
        _read_event(event, name, values, report)
    return report.build()


def _events(document: Any, name: str) -> Iterator[Mapping[str, Any]]:
    candidates = document.get("response") if isinstance(document, dict) and "response" in document else [document]
    if not isinstance(candidates, list):
        raise InvalidInput(f"{name}: 'response' is not a list of events")
    found = False
    for candidate in candidates:
        event = candidate.get("Event", candidate) if isinstance(candidate, dict) else None
        if not isinstance(event, dict) or not {"info", "Attribute", "Object"} & event.keys():
            raise InvalidInput(
                f"{name}: not a MISP event (no info, Attribute or Object); a template, galaxy or sighting?"
            )
        found = True
        yield event
    if not found:
        raise InvalidInput(f"{name}: the response holds no event")


def _read_event(event: Mapping[str, Any], name: str, values: ValueReader, report: ReportBuilder) -> None:
    event_markings = _markings(event)
    for attribute in _list(event, "Attribute", name, report):
        _read_attribute(attribute, event_markings, name, values, report)
    for misp_object in _list(event, "Object", name, report):
        if misp_object.get("deleted") is True:
            report.skip("deleted object")
            continue
        object_markings = event_markings + _markings(misp_object)
        for attribute in _list(misp_object, "Attribute", name, report):
            _read_attribute(attribute, object_markings, name, values, report)
    for proposal in _list(event, "ShadowAttribute", name, report):
        report.skip(f"proposal ({proposal.get('type', '?')})")


def _read_attribute(
    attribute: Mapping[str, Any], inherited: list[str], name: str, values: ValueReader, report: ReportBuilder
) -> None:
    misp_type = str(attribute.get("type", ""))
    source = SourceRef(name, f"Attribute {attribute.get('uuid') or attribute.get('id') or '(no uuid)'}")
    if attribute.get("deleted") is True:
        report.skip("deleted attribute")
        return
    value = attribute.get("value")
    if not isinstance(value, str):
        report.reject(source, f"attribute of type {misp_type!r} has no text value")
        return
    parts = MISP_TYPES.get(misp_type)
    if parts is None:
        report.skip(misp_type or "(untyped attribute)")
        return
    pieces = value.split("|") if "|" in misp_type or misp_type == "malware-sample" else [value]
    if misp_type == "malware-sample" and len(pieces) == 1:
        report.skip("malware-sample without its md5")  # as PyMISP writes it before the server hashes it
        return
    markings = inherited + _markings(attribute)
    for index, kind in parts:
        if index >= len(pieces):
            report.reject(source, f"composite {misp_type!r} value has no part {index + 1}")
            continue
        values.read(report, kind, pieces[index], source=source, markings=markings)


def _list(container: Mapping[str, Any], key: str, name: str, report: ReportBuilder) -> Iterable[Mapping[str, Any]]:
    items = container.get(key, [])
    if not isinstance(items, list):
        report.reject(SourceRef(name, key), f"{key} is not a list")
        return []
    good = [item for item in items if isinstance(item, dict)]
    for _ in range(len(items) - len(good)):
        report.reject(SourceRef(name, key), f"an entry of {key} is not an object")
    return good


def _markings(container: Mapping[str, Any]) -> list[str]:
    tags = container.get("Tag", [])
    if not isinstance(tags, list):
        return []
    found = (marking_from_tag(str(tag.get("name", ""))) for tag in tags if isinstance(tag, dict))
    return [marking for marking in found if marking is not None]
