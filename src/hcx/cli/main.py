"""Entry point of `hcx`. Settings are loaded here, once, and passed on in the Typer context."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from hcx import errors
from hcx.cli import accounts, evidence, evidence_flow, evidence_transfer, federation, indicators, log, parties, requests
from hcx.cli import alerts as alert_commands
from hcx.cli import matching as matching_cli
from hcx.cli.node import Node
from hcx.cli.output import console, exit_code, print_error
from hcx.config import default_data_dir, load_settings
from hcx.rules import load_rules
from hcx.services import accounts as account_services
from hcx.services import blob_sweep
from hcx.services import federation as federation_services

app = typer.Typer(name="hcx", help="Hanoi Convention Exchange: a node of the UN Convention against Cybercrime.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(accounts.authority_app, name="authority")
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.token_app, name="token")
app.add_typer(requests.app, name="request")
app.add_typer(parties.app, name="parties")
app.add_typer(federation.peer_app, name="peer")
app.add_typer(federation.outbox_app, name="outbox")
app.add_typer(federation.inbox_app, name="inbox")
app.add_typer(log.app, name="log")
app.add_typer(indicators.app, name="indicators")
# `evidence` gathers the commands of several modules: each adds its Typer here, unnamed
evidence_app = typer.Typer(help="Evidence: seal, list, export; upload, download.", no_args_is_help=True)
evidence_app.add_typer(evidence.app)
evidence_app.add_typer(evidence_transfer.app)
evidence_app.add_typer(evidence_flow.app)
app.add_typer(evidence_app, name="evidence")
app.command("verify")(evidence.verify_cmd)
app.add_typer(matching_cli.app, name="match")
app.add_typer(alert_commands.app, name="alerts")


@app.callback()
def _global(
    ctx: typer.Context,
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="HCX_DATA_DIR", help="the node's directory",
                                           default_factory=default_data_dir, show_default="~/.local/share/hcx")],
) -> None:
    ctx.obj = Node(load_settings(data_dir=data_dir))


@app.command()
def init(
    ctx: typer.Context,
    party: Annotated[str, typer.Option(help="ISO 3166-1 alpha-3 code of this node's State, e.g. VNM")],
    name: Annotated[str, typer.Option(help="a name for the node")] = "",
) -> None:
    """Create a new node in the data directory."""
    node: Node = ctx.obj
    party = party.upper()
    if load_rules().party(party) is None:  # before anything is written
        raise errors.InvalidInput(f"{party} is not a known party (ISO 3166-1 alpha-3 code, e.g. VNM)")
    context = node.context(create=True)
    account_services.init_node(context, party=party, name=name or f"hcx node {party}")
    console.print(f"Node for [bold]{party}[/] created in {node.settings.data_dir}")
    console.print(f"Node fingerprint (give it to peers out of band): "
                  f"[bold]{federation_services.node_fingerprint(context)}[/]", highlight=False)
    console.print("Next: hcx authority add NAME --kind central_authority; hcx user add ...; hcx serve")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
) -> None:
    """Serve the node's API (and, later, its web interface)."""
    import uvicorn

    from hcx.api import create_app

    node: Node = ctx.obj
    logging.getLogger("hcx").setLevel(logging.INFO)  # what the node receives and sends, for its admin
    settings = node.settings.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    context = node.context()
    blob_sweep.claim_store(context)  # refuses to serve from another node's blob store
    federation_services.set_url(context, settings.advertised_url)
    app_ = create_app(settings, context=context, deliver=True)
    console.print(f"Serving {settings.advertised_url} — API docs at /api/v1/docs", highlight=False)
    uvicorn.run(app_, host=settings.host, port=settings.port, log_level="warning")


@app.command()
def worker(ctx: typer.Context) -> None:
    """Deliver the outbox in this process (several workers may share one PostgreSQL database)."""
    from hcx.federation.worker import DeliveryWorker

    node: Node = ctx.obj
    logging.getLogger("hcx").setLevel(logging.INFO)
    console.print("Delivering the outbox; Ctrl-C stops.")
    try:
        DeliveryWorker(node.context(), interval=node.settings.worker_interval_seconds).run()
    except KeyboardInterrupt:
        console.print("stopped")


@app.command()
def demo(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="port to listen on")] = 8401,
    check: Annotated[bool, typer.Option("--check", help="seed, verify and exit instead of serving")] = False,
) -> None:
    """Run a demonstration node (VNM) with authorities, users and requests in every state."""
    from hcx.cli.demo import run_demo

    run_demo(ctx.obj, port=port, check=check)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:  # typer.Exit(n) is returned, not raised, in this mode
            sys.exit(code)
    except errors.Error as exc:
        print_error(exc)
        sys.exit(exit_code(exc))
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors (Typer's own click) carry their own exit codes
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(getattr(exc, "exit_code", 2))


if __name__ == "__main__":
    main()
