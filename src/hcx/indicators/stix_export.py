"""STIX 2.1 export: one `indicator` per indicator, with a pattern that `import_stix` reads back.

Deterministic: ids are UUIDv5 of (kind, value), objects are sorted, and the time stamps are the
`created` argument (this module reads no clock). Markings go to `object_marking_refs`; a handling
tag without a standard STIX id (e.g. `pap:amber`) becomes a statement `marking-definition` named
after it. Cards leave as their keyed hash and are named without their last digits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

import stix2

from hcx.indicators.markings import is_stix_marking_id
from hcx.indicators.model import Indicator, IndicatorKind
from hcx.indicators.sharing import Decision, Destination, RecipientsOf, shareable
from hcx.indicators.stix_mapping import EXPORT_PATHS, HANDLE_LOGIN_PATH, HANDLE_PLATFORM_PATH, HANDLE_TYPE

HCX_STIX_NAMESPACE = uuid.UUID("5b7d0c3e-3c5e-5b8a-9a36-0d1c6c1f4a11")


def export_stix(indicators: Iterable[Indicator], *, created: dt.datetime) -> str:
    """A STIX 2.1 bundle (JSON text) of `indicators`, duplicates collapsed."""
    if created.tzinfo is None:
        raise ValueError("created must be an aware datetime (UTC)")
    unique = {indicator.key: indicator for indicator in indicators}
    chosen = [unique[key] for key in sorted(unique)]
    handling = sorted({m for indicator in chosen for m in indicator.markings if not is_stix_marking_id(m)})
    handling_ids = {tag: f"marking-definition--{uuid.uuid5(HCX_STIX_NAMESPACE, 'marking:' + tag)}" for tag in handling}
    objects: list[object] = [
        stix2.MarkingDefinition(
            id=handling_ids[tag],
            created=created,
            name=tag.upper(),
            definition_type="statement",
            definition=stix2.StatementMarking(statement=tag.upper()),
        )
        for tag in handling
    ]
    for indicator in chosen:
        objects.append(
            stix2.Indicator(
                id=f"indicator--{uuid.uuid5(HCX_STIX_NAMESPACE, f'{indicator.kind.value}:{indicator.value}')}",
                created=created,
                modified=created,
                valid_from=created,
                name=_name(indicator),
                pattern=pattern_for(indicator),
                pattern_type="stix",
                object_marking_refs=[handling_ids.get(m, m) for m in indicator.markings] or None,
                allow_custom=True,
            )
        )
    digest_source = "\n".join(f"{i.kind.value}:{i.value}:{','.join(i.markings)}" for i in chosen)
    bundle_id = f"bundle--{uuid.uuid5(HCX_STIX_NAMESPACE, digest_source)}"
    return str(stix2.Bundle(objects=objects, id=bundle_id, allow_custom=True).serialize(pretty=True))


def pattern_for(indicator: Indicator) -> str:
    if indicator.kind is IndicatorKind.HANDLE:
        platform, _, login = indicator.value.partition(":")
        return (
            f"[{HANDLE_TYPE}:{HANDLE_PLATFORM_PATH} = {_quote(platform)} AND "
            f"{HANDLE_TYPE}:{HANDLE_LOGIN_PATH} = {_quote(login)}]"
        )
    if indicator.kind is IndicatorKind.CIDR:
        object_type = "ipv6-addr" if ":" in indicator.value else "ipv4-addr"
        return f"[{object_type}:value = {_quote(indicator.value)}]"
    object_type, path = EXPORT_PATHS[indicator.kind]
    return f"[{object_type}:{path} = {_quote(indicator.value)}]"


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _name(indicator: Indicator) -> str:
    if indicator.kind is IndicatorKind.CARD:
        return "payment card (keyed hash)"
    return f"{indicator.kind.value}: {indicator.display}"


def export_for(indicators: Iterable[Indicator], *, to: Destination, created: dt.datetime,
               recipients_of: RecipientsOf = lambda _indicator: ()) -> tuple[str, list[tuple[Indicator, Decision]]]:
    """A bundle of the indicators the TLP policy lets go to `to` (markings kept), and the refusals.

    Every export destined outside the owning authority goes through here: a TLP:RED indicator is
    never in it, an AMBER one only if `to` is a named recipient (hcx.indicators.sharing)."""
    allowed, refused = shareable(indicators, to=to, recipients_of=recipients_of)
    return export_stix(allowed, created=created), refused
