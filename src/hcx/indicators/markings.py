"""TLP and handling markings, kept from the source (enforcement comes later).

A marking is kept as a string: a STIX `marking-definition--…` id, or a handling tag such as
`pap:amber` that has no standard STIX id. MISP `tlp:*` tags map to the standard STIX ids, so a
TLP level reads the same whichever format it came in.
"""

from __future__ import annotations

# STIX 2.1 §7.2.1.4: the TLP 1.0 marking definitions.
TLP1_IDS = {
    "tlp:white": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "tlp:green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "tlp:amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "tlp:red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
# The OASIS TLP 2.0 marking definitions (STIX extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d).
TLP2_IDS = {
    "tlp:clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "tlp:green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "tlp:amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "tlp:amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "tlp:red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP_LEVEL_BY_ID = {marking_id: tag for table in (TLP1_IDS, TLP2_IDS) for tag, marking_id in table.items()}
HANDLING_TAG_PREFIXES = ("tlp:", "pap:")
PAP_TAGS = frozenset({"pap:clear", "pap:white", "pap:green", "pap:amber", "pap:red"})


def marking_from_tag(tag: str) -> str | None:
    """The marking a MISP tag carries, or None for a tag that is not a (known) handling marking.

    `tlp:white` is TLP 1.0 (its id is TLP 1.0's); every other TLP level maps to the TLP 2.0 id,
    which is what MISP means by it today.
    """
    name = tag.strip().lower()
    if not name.startswith(HANDLING_TAG_PREFIXES):
        return None
    if name == "tlp:white":
        return TLP1_IDS[name]
    if name in PAP_TAGS:
        return name
    return TLP2_IDS.get(name)


def is_stix_marking_id(marking: str) -> bool:
    return marking.startswith("marking-definition--")
