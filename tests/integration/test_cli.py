"""The `hcx` command: a node in a fresh data directory per test (SQLite; PostgreSQL by
HCX_DATABASE_URL, in a schema of its own, when HCX_TEST_DATABASE_URL is set).

Commands go through `hcx.cli.main.main()`, the console-script entry point, inside
`CliRunner.isolation()` (stdin, stdout and stderr swapped for buffers). `CliRunner.invoke(app)`
would run Typer in standalone mode, where hcx errors escape as `result.exception` with exit code 1
and none of main()'s mapping of error classes to exit codes and diagnostics; calling main() gives
what a shell sees: its exit code, its stdout and its stderr.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from typer.testing import CliRunner

from hcx.cli.main import main
from hcx.cli.output import EXIT_CODES
from hcx.errors import PolicyDenied
from hcx.rules import Rules
from tests.conftest import BACKENDS, EXAMPLES, PG_URL, pg_schemas

PASSWORD = "correct horse battery"
ENV: dict[str, str | None] = {
    "COLUMNS": "200",  # Rich wraps lines and folds tables at the terminal width (80 when it cannot tell)
    "HCX_KEY_PASSPHRASE": "test passphrase of a throwaway node",
    "HCX_ENV": None,
}
MULTILINGUAL = "ملخص الوقائع — 事实摘要 — Tóm tắt sự việc: lừa đảo trực tuyến"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Hcx:
    """`hcx --data-dir DIR ...` as a shell would run it."""

    data_dir: Path
    env: dict[str, str | None]

    def __call__(self, *args: str, input: str | None = None) -> Result:  # input: as CliRunner names it
        argv = ["hcx", "--data-dir", str(self.data_dir), *args]
        with CliRunner().isolation(input=input, env=self.env) as (out, err, _), mock.patch.object(sys, "argv", argv):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            with warnings.catch_warnings():
                # The process would now exit and close the node's database connections; in-process,
                # collect them here rather than at a random later point (psycopg warns on unclosed ones).
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()
            sys.stdout.flush()  # print() is buffered; Rich flushes, print() does not
            sys.stderr.flush()
            return Result(code, out.getvalue().decode(), err.getvalue().decode())

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, result
        return result


@pytest.fixture(params=BACKENDS)
def hcx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hcx]:
    data_dir = tmp_path / "node"
    if request.param == "sqlite":
        yield Hcx(data_dir, ENV | {"HCX_DATABASE_URL": None})
        return
    assert PG_URL
    separator = "&" if "?" in PG_URL else "?"
    with pg_schemas(1) as [schema]:
        yield Hcx(data_dir, ENV | {"HCX_DATABASE_URL": f"{PG_URL}{separator}options=-csearch_path%3D{schema}"})


@pytest.fixture
def node(hcx: Hcx) -> Hcx:
    """An initialised VNM node with a central authority, olga (officer) and sam (supervisor)."""
    hcx.ok("init", "--party", "VNM")
    hcx.ok("authority", "add", "Central Authority", "--kind", "central_authority")
    for username, role in [("olga", "officer"), ("sam", "supervisor")]:
        hcx.ok("user", "add", username, "--role", role, "--authority", "Central Authority", "--password-stdin",
               input=PASSWORD + "\n")
    return hcx


def example(kind: str = "mutual_legal_assistance") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{kind}.json").read_text(encoding="utf-8"))
    return document


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def without_field(draft: dict[str, Any], name: str) -> dict[str, Any]:
    return draft | {"fields": {k: v for k, v in draft["fields"].items() if k != name}}


# --- the node ---------------------------------------------------------------------------------

def test_init_creates_a_node_once(hcx: Hcx) -> None:
    assert "VNM" in hcx.ok("init", "--party", "VNM").stdout
    again = hcx("init", "--party", "VNM")
    assert again.exit_code != 0
    assert "already initialised" in again.stderr


def test_init_refuses_an_unknown_party(hcx: Hcx) -> None:
    result = hcx("init", "--party", "XXX")
    assert result.exit_code != 0
    assert "XXX is not a known party" in result.stderr


def test_a_refused_init_leaves_no_node_behind(hcx: Hcx) -> None:
    assert hcx("init", "--party", "XXX").exit_code != 0
    result = hcx("request", "list", "--user", "olga")
    assert result.exit_code != 0
    assert "init" in result.stderr, "the node was not created: the operator must be told to run `hcx init`"


def test_a_command_on_a_missing_node_says_to_run_init(hcx: Hcx) -> None:
    result = hcx("request", "list", "--user", "olga")
    assert result.exit_code != 0
    assert "hcx" in result.stderr and "init" in result.stderr


# --- accounts -----------------------------------------------------------------------------------

def test_authority_user_and_token(hcx: Hcx) -> None:
    hcx.ok("init", "--party", "VNM")
    assert "Central Authority" in hcx.ok("authority", "add", "Central Authority", "--kind", "central_authority").stdout
    added = hcx.ok("user", "add", "olga", "--role", "officer", "--authority", "Central Authority",
                   "--password-stdin", input=PASSWORD + "\n")
    assert "olga" in added.stdout
    token = hcx.ok("token", "create", "--user", "olga")
    assert token.stdout.startswith("hcx_") and len(token.stdout.strip().splitlines()) == 1


def test_a_too_short_password_is_refused(node: Hcx) -> None:
    result = node("user", "add", "tina", "--role", "officer", "--authority", "Central Authority",
                  "--password-stdin", input="short\n")
    assert result.exit_code != 0
    assert "at least 12 characters" in result.stderr
    assert "tina" not in node.ok("user", "list", "--json").stdout


# --- request validate ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_validates(hcx: Hcx, path: Path) -> None:
    hcx.ok("request", "validate", str(path))


def test_a_missing_required_field_fails_validation_and_is_named(hcx: Hcx, tmp_path: Path) -> None:
    file = write(tmp_path / "draft.json", without_field(example(), "purpose"))
    result = hcx("request", "validate", str(file))
    assert "fields.purpose" in result.stdout
    assert result.exit_code == 1, "a draft with an error finding must exit 1"


def test_validate_json_output(hcx: Hcx, tmp_path: Path) -> None:
    file = write(tmp_path / "draft.json", without_field(example(), "purpose"))
    report = hcx("request", "validate", str(file), "--json").json()
    assert report["valid"] is False
    assert [f["path"] for f in report["findings"] if f["severity"] == "error"] == ["fields.purpose"]
    complete = hcx.ok("request", "validate", str(EXAMPLES / "mutual_legal_assistance.json"), "--json").json()
    assert complete["valid"] is True and isinstance(complete["findings"], list)


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "is not valid JSON"),
    ("{}".encode("utf-16"), "is not UTF-8"),
    (b" " * 1_048_577, "is larger than"),
], ids=["not json", "not utf-8", "over 1 MiB"])
def test_validate_refuses_an_unreadable_file(hcx: Hcx, tmp_path: Path, content: bytes, message: str) -> None:
    file = tmp_path / "draft.json"
    file.write_bytes(content)
    result = hcx("request", "validate", str(file))
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# --- requests ----------------------------------------------------------------------------------------

def new_request(node: Hcx, draft: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    view: dict[str, Any] = node.ok("request", "new", str(write(tmp_path / "draft.json", draft)), "--user", "olga",
                                   "--json").json()
    return view


def test_a_request_is_drafted_listed_shown_and_submitted(node: Hcx, tmp_path: Path) -> None:
    created = new_request(node, example(), tmp_path)
    assert created["state"] == "draft"
    listed = node.ok("request", "list", "--user", "olga", "--json").json()
    assert [r["id"] for r in listed] == [created["id"]]
    assert created["reference"] in node.ok("request", "list", "--user", "olga").stdout
    shown = node.ok("request", "show", created["id"], "--user", "olga", "--json").json()
    assert shown["document"] == example()
    submitted = node.ok("request", "transition", created["id"], "submit", "--user", "olga", "--json").json()
    assert submitted["state"] == "awaiting_approval"


def test_a_refused_transition_exits_non_zero_and_changes_nothing(node: Hcx, tmp_path: Path) -> None:
    rid = new_request(node, example(), tmp_path)["id"]
    node.ok("request", "transition", rid, "submit", "--user", "olga")
    before = node.ok("request", "show", rid, "--user", "olga", "--json").json()
    result = node("request", "transition", rid, "approve", "--user", "olga")
    assert result.exit_code == EXIT_CODES[PolicyDenied]
    assert "needs the role supervisor" in result.stderr
    after = node.ok("request", "show", rid, "--user", "olga", "--json").json()
    assert (after["state"], after["version"], len(after["events"])) == (
        "awaiting_approval", before["version"], len(before["events"]))
    approved = node.ok("request", "transition", rid, "approve", "--user", "sam", "--json").json()
    assert approved["state"] == "submitted"


def test_multilingual_text_round_trips_through_the_cli(node: Hcx, tmp_path: Path) -> None:
    draft = example()
    draft["fields"]["summary_of_facts"] = MULTILINGUAL
    rid = new_request(node, draft, tmp_path)["id"]
    shown = node.ok("request", "show", rid, "--user", "olga", "--json")
    assert shown.json()["document"]["fields"]["summary_of_facts"].encode() == MULTILINGUAL.encode()
    assert shown.json()["document"] == draft


# --- parties status --------------------------------------------------------------------------------

def ratification(party: str, date: dt.date) -> dict[str, Any]:
    return {"party": party, "date": date.isoformat(), "instrument": "ratification", "source": "what-if",
            "verified": False}


def states(rules: Rules, count: int) -> list[str]:
    codes = [p.code for p in rules.parties if p.kind == "state"][:count]
    assert len(codes) == count
    return codes


FIRST = dt.date(2027, 1, 1)


def test_the_convention_is_not_in_force(hcx: Hcx) -> None:
    status = hcx.ok("parties", "status", "--json").json()
    assert (status["signed_in_hanoi"], status["threshold"], status["entry_into_force"]) == (72, 40, None)


def test_entry_into_force_is_90_days_after_the_40th_instrument(hcx: Hcx, rules: Rules, tmp_path: Path) -> None:
    listed = [ratification(code, FIRST + dt.timedelta(days=i)) for i, code in enumerate(states(rules, 40))]
    file = write(tmp_path / "ratifications.json", listed)
    status = hcx.ok("parties", "status", "--json", "--ratifications", str(file)).json()
    fortieth = FIRST + dt.timedelta(days=39)
    assert status["ratifications"] == 40
    assert status["entry_into_force"] == (fortieth + dt.timedelta(days=90)).isoformat()


def test_the_eu_does_not_count_towards_the_40(hcx: Hcx, rules: Rules, tmp_path: Path) -> None:
    eu = ratification("EUU", FIRST + dt.timedelta(days=10))
    thirty_nine = [ratification(code, FIRST + dt.timedelta(days=i)) for i, code in enumerate(states(rules, 39))]
    file = write(tmp_path / "ratifications.json", [*thirty_nine, eu])
    status = hcx.ok("parties", "status", "--json", "--ratifications", str(file)).json()
    assert (status["ratifications"], status["entry_into_force"]) == (39, None)
    fortieth = ratification(states(rules, 40)[-1], FIRST + dt.timedelta(days=39))
    file = write(tmp_path / "ratifications.json", [*thirty_nine, eu, fortieth])
    status = hcx.ok("parties", "status", "--json", "--ratifications", str(file)).json()
    assert status["entry_into_force"] == (FIRST + dt.timedelta(days=39 + 90)).isoformat()
