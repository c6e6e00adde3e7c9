"""`hcx parties`: the Convention's status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError

from hcx.cli.options import JsonOpt
from hcx.cli.output import console, print_json, table
from hcx.cli.requests import read_json
from hcx.errors import InvalidInput
from hcx.rules import load_rules
from hcx.rules.schema import Ratification
from hcx.services.parties import status_report

app = typer.Typer(help="Parties and the Convention's status.", no_args_is_help=True)


@app.command("status")
def status(
    json_: JsonOpt = False,
    ratifications: Annotated[Path | None, typer.Option(
        help="what if: a JSON list of {party, date, instrument, source, verified} replacing the recorded ones")] = None,
    language: Annotated[str, typer.Option(help="language of party names (ar, zh, en, fr, ru, es, vi)")] = "en",
) -> None:
    """Signatures, ratifications (N of 40) and the entry-into-force date once reached."""
    rules = load_rules()
    what_if = None
    if ratifications is not None:
        try:
            what_if = TypeAdapter(list[Ratification]).validate_python(read_json(ratifications))
        except ValidationError as exc:
            raise InvalidInput("the ratification list is not valid",
                               details=[f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]) from exc
    report = status_report(rules, ratifications=what_if, language=language)
    if json_:
        print_json(report)
        return
    table(f"UN Convention against Cybercrime — status as of {report.as_of}", ["party", "name", "signed", "ratified",
                                                                              "in force"],
          [[p.code, p.name, f"{p.signed} ({p.signed_at})" if p.signed else "", p.ratified, p.in_force]
           for p in report.parties])
    console.print(f"Signatories: {report.signatories} ({report.signed_in_hanoi} in Hanoi). "
                  f"Ratifications: {report.ratifications} of {report.threshold}.", highlight=False)
    if report.entry_into_force:
        console.print(f"Entry into force: {report.entry_into_force}", highlight=False)
    else:
        console.print(f"Not in force: {report.threshold - report.ratifications} more instruments needed. "
                      f"({report.entry_into_force_rule})", highlight=False)
