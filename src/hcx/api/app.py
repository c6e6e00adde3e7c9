"""The FastAPI application factory: wires storage into the services and mounts the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hcx import __version__
from hcx.api import errors
from hcx.api.limits import BodyLimit
from hcx.api.routers import alerts as alert_routes
from hcx.api.routers import blobs as federation_blobs
from hcx.api.routers import evidence_exchange as evidence_routes
from hcx.api.routers import federation, peers, reference, requests, system, uploads
from hcx.api.routers import matching as matching_router
from hcx.api.routers import taxii as taxii_router
from hcx.api.routers import witness as witness_routes
from hcx.config import Settings
from hcx.federation.worker import DeliveryWorker
from hcx.services.context import Context
from hcx.wiring import build_context

PREFIX = "/api/v1"


def create_app(settings: Settings, *, context: Context | None = None, deliver: bool = False) -> FastAPI:
    """An app over the node in `settings`; tests may hand in a ready `context`. With `deliver`, a
    delivery worker sends the outbox while the app runs."""
    ctx = context or build_context(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = DeliveryWorker(ctx, interval=settings.worker_interval_seconds) if deliver else None
        if worker:
            worker.start()
        try:
            yield
        finally:
            if worker:
                worker.stop()

    app = FastAPI(
        title="hcx — Hanoi Convention Exchange", version=__version__, lifespan=lifespan,
        openapi_url=f"{PREFIX}/openapi.json", docs_url=f"{PREFIX}/docs", redoc_url=None)
    app.state.context = ctx
    errors.install(app)
    for router in (system.router, requests.router, reference.router, peers.router):
        app.include_router(router, prefix=PREFIX)
    app.include_router(federation.router)
    app.include_router(uploads.router, prefix=PREFIX)
    app.include_router(evidence_routes.router, prefix=PREFIX)
    app.include_router(federation_blobs.router)
    app.include_router(witness_routes.api_router, prefix=PREFIX)
    app.include_router(witness_routes.router)
    app.mount("/taxii2", taxii_router.create_app(ctx, max_content_length=settings.max_body_bytes))
    app.include_router(matching_router.router)
    app.include_router(alert_routes.router, prefix=PREFIX)
    # the inbox streams and limits its own (larger) messages
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, exempt_prefix="/federation/",
                       larger=[(uploads.CHUNK_PATH, ctx.policy.upload_chunk_bytes)])
    return app
