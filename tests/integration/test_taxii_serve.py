"""A CERT tool's round trip against a real `hcx serve` process: taxii2-client pulls what the CLI
imported (TLP:RED left out) and pushes a bundle that the CLI then finds in the named case."""

from __future__ import annotations

import json
from pathlib import Path

from taxii2client.v21 import Server

from tests.integration.test_serve import hcx, served

PASSWORD = "correct horse battery\n"


def test_a_served_node_is_a_taxii_server(tmp_path: Path) -> None:
    node = tmp_path / "node"
    hcx(node, "init", "--party", "VNM")
    hcx(node, "authority", "add", "Cyber Police", "--kind", "law_enforcement")
    hcx(node, "user", "add", "ana", "--role", "analyst", "--authority", "Cyber Police", "--password-stdin",
        stdin=PASSWORD)
    token = hcx(node, "token", "create", "--user", "ana").strip().splitlines()[-1]
    listing = tmp_path / "case.csv"
    listing.write_text("type,value,markings\ndomain,green-shop.com,tlp:green\ndomain,red-shop.com,tlp:red\n"
                       "phone,+84 24 3825 3456,tlp:amber\n", encoding="utf-8")
    hcx(node, "indicators", "import", str(listing), "--case", "HN-2026-1", "--user", "ana")
    with served(node, tmp_path / "serve.log") as base:
        url = f"{base}/taxii2/"
        [collection] = Server(url, user="ana", password=token).default.collections
        pulled = collection.get_objects()["objects"]
        assert sorted(o["name"] for o in pulled) == ["domain: green-shop.com", "phone: +842438253456"]
        stamp = "2026-11-20T08:00:00.000Z"
        pushed = {"type": "indicator", "spec_version": "2.1", "id": "indicator--3f1c9a57-0f3e-4c41-9b0b-2d5b1f0f7e21",
                  "created": stamp, "modified": stamp, "valid_from": stamp, "pattern_type": "stix",
                  "pattern": "[domain-name:value = 'green-shop.com']", "x_hcx_case_ref": "HN-2026-2"}
        status = collection.add_objects({"objects": [pushed]})
        assert (status.status, status.success_count) == ("complete", 1)
    links = json.loads(hcx(node, "indicators", "links", "--user", "ana", "--json"))
    assert "HN-2026-2" in json.dumps(links) and "HN-2026-1" in json.dumps(links)
