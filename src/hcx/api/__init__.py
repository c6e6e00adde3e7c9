"""The JSON API under /api/v1 (FastAPI, OpenAPI at /api/v1/openapi.json)."""

from hcx.api.app import create_app

__all__ = ["create_app"]
