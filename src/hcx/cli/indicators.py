"""`hcx indicators`: import indicator files into cases, list linked cases, find a value."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape

from hcx.cli.node import Node
from hcx.cli.options import JsonOpt, UserOpt
from hcx.cli.output import console, print_json, table
from hcx.errors import InvalidInput
from hcx.services import accounts, indicators, matching

app = typer.Typer(help="The local correlation index: indicators shared between cases.", no_args_is_help=True)

RegionOpt = Annotated[str | None, typer.Option("--region", help="the case's country, ISO 3166-1 alpha-2 (e.g. VN), "
                                                                "for phone numbers written without +")]
MaxCasesOpt = Annotated[int, typer.Option("--max-cases", help="a value in more cases than this is generic: "
                                                             "flagged, not paired")]


def _rows(values: list[list[Any]]) -> list[list[Any]]:
    return [[escape(str(v)) for v in row] for row in values]  # file contents are not Rich markup


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="a CSV (type,value[,markings]), MISP event or STIX 2.1 bundle")],
    case: Annotated[str, typer.Option("--case", help="the case reference the indicators belong to")],
    user: UserOpt,
    format_: Annotated[str, typer.Option("--format", help="csv, misp, stix or auto (by the file)")] = "auto",
    region: RegionOpt = None,
    shareable: Annotated[bool, typer.Option("--shareable", help="mark these indicators shareable for matching "
                                                                "with other nodes (hcx match)")] = False,
    country: Annotated[str | None, typer.Option("--country", help="ISO 3166-1 alpha-3 of a counterpart's case "
                                                                  "(default: this node's party)")] = None,
    origin: Annotated[str, typer.Option("--origin", help="the counterpart's authority, with --country")] = "",
    json_: JsonOpt = False,
) -> None:
    """Import a file's indicators into a case; print what was accepted, rejected and repeated, and the
    new links to other cases (each one an alert: hcx alerts list)."""
    node: Node = ctx.obj
    context = node.context()
    if format_ not in indicators.FORMATS:
        raise InvalidInput(f"unknown format {format_!r}; use one of {', '.join(indicators.FORMATS)}")
    outcome = indicators.import_file(context, accounts.principal_for(context, user), file, case_ref=case,
                                     format=cast(indicators.Format, format_), default_region=region,
                                     country=country, origin=origin)
    if shareable:
        matching.mark_imported_shareable(context, accounts.principal_for(context, user), outcome)
    report = outcome.report
    if json_:
        print_json({"case": outcome.case_ref, "format": outcome.format, "accepted": report.counts(),
                    "new": outcome.new, "known": outcome.known, "duplicates": report.duplicates,
                    "country": outcome.country, "links": outcome.links,
                    "skipped": dict(report.skipped),
                    "rejected": [{"source": str(r.source), "reason": r.reason, "excerpt": r.excerpt}
                                 for r in report.rejections]})
        return
    console.print(f"{escape(file.name)} ({outcome.format}) → case {escape(outcome.case_ref)}: "
                  f"{len(report.indicators)} accepted ({outcome.new} new, {outcome.known} already in the case), "
                  f"{len(report.rejections)} rejected, {report.duplicates} duplicate(s), "
                  f"{outcome.links} new link(s) to other cases", highlight=False)
    table("Accepted", ["kind", "count"], _rows([[k, n] for k, n in report.counts().items()]))
    if report.skipped:
        table("Skipped (no kind hcx correlates)", ["type", "count"], _rows([[k, n] for k, n in report.skipped.items()]))
    if report.rejections:
        table("Rejected", ["where", "reason", "excerpt"],
              _rows([[r.source, r.reason, r.excerpt] for r in report.rejections]))


@app.command("links")
def links_cmd(ctx: typer.Context, user: UserOpt, max_cases: MaxCasesOpt = indicators.DEFAULT_MAX_CASES,
              json_: JsonOpt = False) -> None:
    """The pairs of your authority's cases that share indicators, and the generic values left out."""
    node: Node = ctx.obj
    context = node.context()
    found = indicators.links(context, accounts.principal_for(context, user), max_cases=max_cases)
    if json_:
        print_json(asdict(found))
        return
    table("Linked cases", ["case", "case", "shared", "indicators"],
          _rows([[link.case_a, link.case_b, len(link.indicators),
                  "; ".join(f"{s.kind} {s.value}" for s in link.indicators)] for link in found.links]))
    if found.generic:
        table(f"Generic values (in more than {found.max_cases} cases; not paired)", ["kind", "value", "cases"],
              _rows([[g.kind, g.value, g.cases] for g in found.generic]))


@app.command("report")
def report_cmd(ctx: typer.Context, user: UserOpt, max_cases: MaxCasesOpt = indicators.DEFAULT_MAX_CASES,
               json_: JsonOpt = False) -> None:
    """The full cross-country link report: your cases and counterparts' cases (COUNTRY/REF) sharing
    indicators, from the per-key summary kept at import. Import finds new links by itself."""
    node: Node = ctx.obj
    context = node.context()
    found = indicators.cross_country_links(context, accounts.principal_for(context, user), max_cases=max_cases)
    if json_:
        print_json(asdict(found))
        return
    table("Cross-country links", ["case", "case", "shared", "indicators"],
          _rows([[link.case_a, link.case_b, len(link.indicators),
                  "; ".join(f"{s.kind} {s.value}" for s in link.indicators)] for link in found.links]))


@app.command("check")
def check_cmd(ctx: typer.Context, user: UserOpt,
              repair: Annotated[bool, typer.Option("--repair", help="rebuild the summary if it differs")] = False,
              json_: JsonOpt = False) -> None:
    """Compare the per-key summary behind the report with a recomputation from every posting (a full
    scan); exit 8 when they differ and were not repaired."""
    node: Node = ctx.obj
    context = node.context()
    differing = indicators.check_summary(context, accounts.principal_for(context, user), repair=repair)
    if json_:
        print_json({"differing_keys": differing, "repaired": repair and differing > 0})
    elif differing:
        console.print(f"{differing} key(s) differ from the postings" + ("; summary rebuilt" if repair else ""))
    else:
        console.print("the summary is what the postings give")
    if differing and not repair:
        raise typer.Exit(8)


@app.command("find")
def find_cmd(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="the value, as written (it is normalised first)")],
    user: UserOpt,
    kind: Annotated[str | None, typer.Option("--kind", help="phone, iban, btc, domain … (default: detect)")] = None,
    region: RegionOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The cases of your authority that hold VALUE."""
    node: Node = ctx.obj
    context = node.context()
    found = indicators.cases_with(context, accounts.principal_for(context, user), kind, value, default_region=region)
    if json_:
        print_json({"kind": found.kind, "value": found.value,
                    "cases": [{"case": c.case_ref, "country": c.country, "origin": c.origin,
                               "first_seen": c.first_seen.isoformat(), "tlp": c.tlp} for c in found.cases]})
        return
    table(f"Cases with {escape(found.kind)} {escape(found.value)}", ["case", "country", "first seen", "markings"],
          _rows([[c.case_ref, c.country, c.first_seen.isoformat(), c.tlp] for c in found.cases]))
