"""Entry point of `hcx`. Settings are loaded here, once, and passed on in the Typer context."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from hcx import errors
from hcx.cli import accounts, parties, requests
from hcx.cli.node import Node
from hcx.cli.output import console, exit_code, print_error
from hcx.config import default_data_dir, load_settings
from hcx.services import accounts as account_services

app = typer.Typer(name="hcx", help="Hanoi Convention Exchange: a node of the UN Convention against Cybercrime.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(accounts.authority_app, name="authority")
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.token_app, name="token")
app.add_typer(requests.app, name="request")
app.add_typer(parties.app, name="parties")


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
    context = node.context(create=True)
    account_services.init_node(context, party=party, name=name or f"hcx node {party}")
    console.print(f"Node for [bold]{party}[/] created in {node.settings.data_dir}")
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
    settings = node.settings.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    app_ = create_app(settings, context=node.context())
    console.print(f"Serving on http://{settings.host}:{settings.port}/api/v1/docs")
    uvicorn.run(app_, host=settings.host, port=settings.port, log_level="info")


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
        app(standalone_mode=False)
    except errors.Error as exc:
        print_error(exc)
        sys.exit(exit_code(exc))
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit codes
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
