"""TAXII 2.1 (OASIS), mounted at /taxii2: discovery, one API root, collections, objects, manifest,
versions, status. Its own small app, because TAXII has its own media type and error shape.

Authentication is the node's API tokens: `Authorization: Bearer hcx_…` (or `Token hcx_…`, what
taxii2-client's TokenAuth sends) or HTTP Basic with the username and one of that user's tokens as
the password (what TAXII clients send by default). See docs/taxii.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from hcx import errors
from hcx.api.errors import status_of
from hcx.errors import InvalidInput, NotAcceptable, Unauthenticated, UnsupportedMediaType
from hcx.services import accounts, taxii
from hcx.services.context import Context, Principal

log = logging.getLogger(__name__)
ROOT = f"/{taxii.API_ROOT}"
COLLECTION = ROOT + "/collections/{collection_id}"
CHALLENGE = 'Basic realm="hcx TAXII", Bearer'


class TaxiiResponse(JSONResponse):
    media_type = taxii.TAXII_MEDIA_TYPE


STATUS = {InvalidInput: 400, NotAcceptable: 406, UnsupportedMediaType: 415}
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          406: "Not Acceptable", 409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type",
          422: "Unprocessable Entity", 500: "Internal Server Error", 502: "Bad Gateway"}


def error(status: int, description: str, code: str, details: list[Any] | None = None,
          headers: dict[str, str] | None = None) -> TaxiiResponse:
    """The TAXII 2.1 error message (section 3.6.1)."""
    body: dict[str, Any] = {"title": TITLES.get(status, "Error"), "description": description, "error_code": code,
                            "http_status": str(status)}
    if details:
        body["details"] = {"findings": [str(d) for d in details]}
    if status == 401:
        headers = (headers or {}) | {"WWW-Authenticate": CHALLENGE}
    return TaxiiResponse(body, status_code=status, headers=headers)


# --- dependencies ------------------------------------------------------------------------------

def get_context(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


ContextDep = Annotated[Context, Depends(get_context)]


def get_principal(request: Request, ctx: ContextDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() in {"bearer", "token"} and credentials:
        return accounts.authenticate_token(ctx, credentials)
    if scheme.lower() == "basic" and credentials:
        try:
            username, colon, token = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthenticated("malformed Basic credentials") from exc
        principal = accounts.authenticate_token(ctx, token) if colon else None
        if principal is None or principal.username != username:
            raise Unauthenticated("invalid or expired token")
        return principal
    raise Unauthenticated("credentials are required: HTTP Basic (username, API token) or Bearer (API token)")


def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        values = {k.strip().lower(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in params)}
        if media:
            ranges.append((media.lower(), values))
    return ranges


def _is_taxii(media: str, params: dict[str, str]) -> bool:
    return media == "application/taxii+json" and params.get("version", "2.1") == "2.1"


def _refused(params: dict[str, str]) -> bool:
    """`q=0` means "not this one" (RFC 9110 §12.4.2)."""
    try:
        return float(params.get("q", "1")) <= 0
    except ValueError:
        return True


def acceptable(request: Request) -> None:
    """406 unless the client accepts TAXII 2.1 (or anything). Runs after authentication."""
    header = request.headers.get("accept", "*/*") or "*/*"
    if not any((_is_taxii(media, params) or media in {"*/*", "application/*"}) and not _refused(params)
               for media, params in _media_ranges(header)):
        raise NotAcceptable(f"this server answers {taxii.TAXII_MEDIA_TYPE}, which {header!r} does not accept")


PrincipalDep = Annotated[Principal, Depends(get_principal)]
Negotiated = [Depends(acceptable)]


def _filters(request: Request) -> taxii.Filters:
    query = request.query_params
    return taxii.parse_filters(
        added_after=query.get("added_after"), limit=query.get("limit"), next=query.get("next"),
        ids=query.getlist("match[id]"), types=query.getlist("match[type]"),
        versions=query.getlist("match[version]"), spec_versions=query.getlist("match[spec_version]"))


def _dated(body: dict[str, Any], page: taxii.Page) -> TaxiiResponse:
    headers = {}
    if page.date_added:
        headers = {"X-TAXII-Date-Added-First": min(page.date_added), "X-TAXII-Date-Added-Last": max(page.date_added)}
    return TaxiiResponse(body, headers=headers)


def _envelope(page: taxii.Page) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.objects:
        body["objects"] = page.objects
    return body


# --- the app -----------------------------------------------------------------------------------

def create_app(ctx: Context, *, max_content_length: int) -> FastAPI:
    app = FastAPI(title="hcx TAXII 2.1", openapi_url=None, docs_url=None, redoc_url=None,
                  default_response_class=TaxiiResponse)
    app.state.context = ctx
    _install_errors(app)

    @app.get("/", dependencies=Negotiated)
    def discovery(request: Request, principal: PrincipalDep) -> TaxiiResponse:
        return TaxiiResponse(taxii.discovery(ctx, principal, str(request.url_for("api_root"))))

    @app.get(ROOT + "/", dependencies=Negotiated)
    def api_root(principal: PrincipalDep) -> TaxiiResponse:
        return TaxiiResponse(taxii.api_root(ctx, principal, max_content_length=max_content_length))

    @app.get(ROOT + "/status/{status_id}/", dependencies=Negotiated)
    def status(principal: PrincipalDep, status_id: str) -> TaxiiResponse:
        return TaxiiResponse(taxii.status(ctx, principal, status_id))

    @app.get(ROOT + "/collections/", dependencies=Negotiated)
    def collections(principal: PrincipalDep) -> TaxiiResponse:
        return TaxiiResponse({"collections": taxii.collections(ctx, principal)})

    @app.get(COLLECTION + "/", dependencies=Negotiated)
    def collection(principal: PrincipalDep, collection_id: str) -> TaxiiResponse:
        return TaxiiResponse(taxii.collection(ctx, principal, collection_id))

    @app.get(COLLECTION + "/manifest/", dependencies=Negotiated)
    def manifest(request: Request, principal: PrincipalDep, collection_id: str) -> TaxiiResponse:
        page = taxii.objects(ctx, principal, collection_id, _filters(request))
        body: dict[str, Any] = {"more": page.more} | ({"next": page.next} if page.next else {})
        if page.objects:
            body["objects"] = page.manifest()
        return _dated(body, page)

    @app.get(COLLECTION + "/objects/", dependencies=Negotiated)
    def get_objects(request: Request, principal: PrincipalDep, collection_id: str) -> TaxiiResponse:
        page = taxii.objects(ctx, principal, collection_id, _filters(request))
        return _dated(_envelope(page), page)

    @app.post(COLLECTION + "/objects/", dependencies=Negotiated, status_code=202)
    async def add_objects(request: Request, principal: PrincipalDep, collection_id: str) -> TaxiiResponse:
        content_type = request.headers.get("content-type", "")
        if not any(_is_taxii(media, params) for media, params in _media_ranges(content_type)):
            raise UnsupportedMediaType(f"send the envelope as {taxii.TAXII_MEDIA_TYPE}, not {content_type!r}")
        try:
            envelope = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"the body is not JSON: {exc}") from exc
        answer = await run_in_threadpool(taxii.add_objects, ctx, principal, collection_id, envelope)
        return TaxiiResponse(answer, status_code=202)

    @app.get(COLLECTION + "/objects/{object_id}/", dependencies=Negotiated)
    def get_object(request: Request, principal: PrincipalDep, collection_id: str, object_id: str) -> TaxiiResponse:
        page = taxii.one_object(ctx, principal, collection_id, object_id, _filters(request))
        return _dated(_envelope(page), page)

    @app.get(COLLECTION + "/objects/{object_id}/versions/", dependencies=Negotiated)
    def versions(request: Request, principal: PrincipalDep, collection_id: str, object_id: str) -> TaxiiResponse:
        page = taxii.one_object(ctx, principal, collection_id, object_id, _filters(request))
        return _dated({"more": False, "versions": sorted({o["modified"] for o in page.objects})}, page)

    return app


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(errors.Error)
    async def _hcx_error(request: Request, exc: errors.Error) -> TaxiiResponse:
        status = next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), None) or status_of(exc)
        return error(status, exc.message, exc.code, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> TaxiiResponse:
        return error(400, "the request parameters are not valid", "invalid_input",
                     [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> TaxiiResponse:
        return error(exc.status_code, str(exc.detail), "http_error", headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> TaxiiResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(500, "an unexpected error occurred; it was logged", "internal_error")
