"""Options many commands share, declared once so that they read and behave the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

UserOpt = Annotated[str, typer.Option("--user", "--as", "-u", envvar="HCX_USER", help="the user you act as")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for machines")]
