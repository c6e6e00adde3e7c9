"""The rule files: the shipped ones load, every rule cites a known source, and a bad file stops
the boot with a message that names the file and the place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hcx.errors import ConfigError
from hcx.rules import load_rules
from hcx.rules.load import FILES, _cited, load_rules_from

DATA = Path(__file__).resolve().parents[2] / "src" / "hcx" / "rules" / "data"
RULES = load_rules()


def test_the_shipped_rules_cover_every_request_type_of_the_convention() -> None:
    assert {t.code for t in RULES.request_types} == {
        "expedited_preservation", "expedited_disclosure_traffic_data", "mutual_legal_assistance",
        "access_stored_data", "realtime_traffic_collection", "content_interception", "extradition",
        "transfer_sentenced_persons", "transfer_of_proceedings", "law_enforcement_cooperation",
        "joint_investigation", "spontaneous_information", "emergency_request", "confiscation"}


def test_the_mla_request_requires_the_six_untoc_items() -> None:
    mla = RULES.request_type("mutual_legal_assistance")
    assert mla is not None
    items = {f.article for f in mla.fields if f.article.startswith("40(15)")}
    assert items == {f"40(15)({c})" for c in "abcdef"}


def test_every_rule_cites_a_known_source_and_says_if_it_was_verified() -> None:
    cited = list(_cited(RULES))
    assert len(cited) > 100
    for where, rule in cited:
        assert rule.source in RULES.sources, where
        assert rule.article, where


def test_bank_secrecy_and_fiscal_offences_are_never_refusal_grounds() -> None:
    forbidden = {g.code for g in RULES.refusal.forbidden}
    assert forbidden == {"bank_secrecy", "fiscal_offence"}
    for t in RULES.request_types:
        assert not forbidden & set(t.refusal_grounds)


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def edit(directory: Path, name: str, change: object) -> None:
    path = directory / name
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")


def test_a_copy_of_the_shipped_files_loads(data_copy: Path) -> None:
    assert load_rules_from(data_copy) == RULES


@pytest.mark.parametrize(("name", "change", "message"), [
    ("request_types.yaml", lambda d: d["request_types"][0]["fields"][0].pop("article"),
     "request_types.yaml: 0.fields.0.article: Field required"),
    ("request_types.yaml", lambda d: d["request_types"][0].update(refusal_grounds=["bank_secrecy"]),
     "refusal ground 'bank_secrecy' is one the convention forbids"),
    ("request_types.yaml", lambda d: d["request_types"][1].update(code=d["request_types"][0]["code"]),
     "duplicate request type codes"),
    ("lifecycle.yaml", lambda d: d["transitions"][0].update(to="limbo"), "transition submit: unknown state 'limbo'"),
    ("lifecycle.yaml", lambda d: d["transitions"][0].update(roles=["janitor"]), "lifecycle.yaml"),
    ("offences.yaml", lambda d: d["offences"][0].update(source="S999"), "offence illegal_access: unknown source"),
    ("convention_status.yaml", lambda d: d["signatures"].append({**d["signatures"][0], "party": "XXX"}),
     "signature by unknown party 'XXX'"),
    ("deadlines.yaml", lambda d: d["deadlines"][0].update(kind="eventually"), "deadlines.yaml"),
])
def test_a_bad_rule_file_stops_the_boot_with_a_clear_message(data_copy: Path, name: str, change: object,
                                                             message: str) -> None:
    edit(data_copy, name, change)
    with pytest.raises(ConfigError) as raised:
        load_rules_from(data_copy)
    assert any(message in line for line in raised.value.diagnostics()), raised.value.diagnostics()


def test_a_missing_or_unparsable_file_is_named(data_copy: Path) -> None:
    (data_copy / "offences.yaml").write_text("offences: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"offences\.yaml is not valid YAML"):
        load_rules_from(data_copy)
    (data_copy / "offences.yaml").unlink()
    with pytest.raises(ConfigError, match=r"offences\.yaml cannot be read"):
        load_rules_from(data_copy)
    assert set(FILES.values()) == {p.name for p in DATA.glob("*.yaml")} | {"offences.yaml"}
