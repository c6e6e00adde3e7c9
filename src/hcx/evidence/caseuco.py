"""The package's provenance graph in CASE/UCO JSON-LD (`case.jsonld`, a tag file of the bag).

    Investigation (the case)  ──object──▶  ProvenanceRecord (the package, exhibit = package id)
    InvestigativeAction "sealed"  performer: the sending authority, instrument: hcx <version>,
                                  object: the files, result: the provenance record
    File + FileFacet (name, size) + ContentDataFacet (size, SHA-256 Hash)   one per payload file
    InvestigativeAction <event>   one per custody event known at sealing (received, …)

Node IRIs are `kb:<kind>-<UUIDv5 of package id and name>`: the same package always yields the
same graph, byte for byte (RFC 8785 is not needed: keys are written sorted, with fixed spacing).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["CONTEXT", "CustodyFact", "PayloadFile", "provenance_graph"]

CONTEXT: Final = {
    "kb": "http://hcx.example/kb/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
_NAMESPACE: Final = uuid.UUID("6f1d3c1e-5b0a-4d1b-9a53-2f7e0c4b8a11")


@dataclass(frozen=True, slots=True)
class PayloadFile:
    path: str  # "data/…"
    size: int
    sha256: str  # hex


@dataclass(frozen=True, slots=True)
class CustodyFact:
    """A custody event known when the package is sealed: what, when, by which role of which party."""

    event: str
    at: dt.datetime
    party: str
    role: str


def _time(at: dt.datetime) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def provenance_graph(*, package_id: str, case_ref: str, request_ref: str | None, party: str, authority_id: str,
                     authority_name: str, sealed_at: dt.datetime, tool_version: str,
                     files: Sequence[PayloadFile], custody: Sequence[CustodyFact] = ()) -> bytes:
    def iri(kind: str, name: str = "") -> str:
        return f"kb:{kind}-{uuid.uuid5(_NAMESPACE, package_id + '/' + kind + '/' + name)}"

    def ref(node_id: str) -> dict[str, str]:
        return {"@id": node_id}

    authority = iri("organization", f"{party}/{authority_id}")
    tool, record, investigation = iri("tool"), iri("provenance-record"), iri("investigation", case_ref)
    file_ids = [iri("file", f.path) for f in files]
    graph: list[dict[str, Any]] = [
        {"@id": authority, "@type": "uco-identity:Organization", "uco-core:name": f"{party}: {authority_name}"},
        {"@id": tool, "@type": "uco-tool:Tool", "uco-core:name": "hcx", "uco-tool:version": tool_version,
         "uco-tool:toolType": "evidence packaging"},
        {"@id": investigation, "@type": "case-investigation:Investigation", "uco-core:name": case_ref,
         "uco-core:description": f"request {request_ref}" if request_ref else "sealed before any request",
         "uco-core:object": [ref(record)]},
        {"@id": record, "@type": "case-investigation:ProvenanceRecord",
         "case-investigation:exhibitNumber": package_id,
         "uco-core:description": "the payload of BagIt package " + package_id,
         "uco-core:object": [ref(i) for i in file_ids] or [ref(tool)]},
        {"@id": iri("action", "sealed"), "@type": "case-investigation:InvestigativeAction",
         "uco-core:name": "sealed", "uco-action:startTime": _time(sealed_at), "uco-action:endTime": _time(sealed_at),
         "uco-action:performer": ref(authority), "uco-action:instrument": ref(tool),
         "uco-action:object": [ref(i) for i in file_ids], "uco-action:result": [ref(record)]},
    ]
    for number, fact in enumerate(custody):
        graph.append({"@id": iri("action", f"custody/{number}"), "@type": "case-investigation:InvestigativeAction",
                      "uco-core:name": fact.event, "uco-action:startTime": _time(fact.at),
                      "uco-core:description": f"custody event by a {fact.role} of {fact.party}",
                      "uco-action:object": [ref(record)]})
    for node_id, payload in zip(file_ids, files, strict=True):
        graph.append({
            "@id": node_id, "@type": "uco-observable:File",
            "uco-core:hasFacet": [
                {"@id": iri("file-facet", payload.path), "@type": "uco-observable:FileFacet",
                 "uco-observable:fileName": payload.path.rpartition("/")[2],
                 "uco-observable:filePath": payload.path, "uco-observable:sizeInBytes": payload.size},
                {"@id": iri("content-facet", payload.path), "@type": "uco-observable:ContentDataFacet",
                 "uco-observable:sizeInBytes": payload.size,
                 "uco-observable:hash": [{"@id": iri("hash", payload.path), "@type": "uco-types:Hash",
                                          "uco-types:hashMethod": "SHA256",
                                          "uco-types:hashValue": {"@type": "xsd:hexBinary",
                                                                  "@value": payload.sha256}}]},
            ]})
    document = {"@context": CONTEXT, "@graph": graph}
    return (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
