"""The FastAPI application factory: wires storage into the services and mounts the routers."""

from __future__ import annotations

from fastapi import FastAPI

from hcx import __version__
from hcx.api import errors
from hcx.api.limits import BodyLimit
from hcx.api.routers import reference, requests, system
from hcx.config import Settings
from hcx.rules import load_rules
from hcx.services.context import Context, Policy, SystemClock
from hcx.storage.db import make_engine, migrate
from hcx.storage.unit_of_work import Database

PREFIX = "/api/v1"


def create_app(settings: Settings, *, context: Context | None = None) -> FastAPI:
    """An app over the node in `settings`; tests may hand in a ready `context`."""
    if context is None:
        database = Database(make_engine(settings.resolved_database_url))
        migrate(database.engine)
        context = Context(
            unit_of_work=database.unit_of_work, rules=load_rules(), clock=SystemClock(),
            policy=Policy(four_eyes=settings.four_eyes, sla_days=settings.sla_days, token_days=settings.token_days))
    app = FastAPI(
        title="hcx — Hanoi Convention Exchange", version=__version__,
        openapi_url=f"{PREFIX}/openapi.json", docs_url=f"{PREFIX}/docs", redoc_url=None)
    app.state.context = context
    errors.install(app)
    for router in (system.router, requests.router, reference.router):
        app.include_router(router, prefix=PREFIX)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
