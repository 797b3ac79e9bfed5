"""One handler renders every error as RFC 9457 problem details with a stable code."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from essc.core.db import unavailable
from essc.kit.errors import EsscError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("essc")


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    request: Request,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:essc:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(EsscError)
    async def _essc_error(request: Request, exc: EsscError) -> JSONResponse:
        return _essc_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "message": err["msg"]}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        detail = f"{first['field'] or 'request'}: {first['message']}"
        return problem(422, "invalid_input", "Invalid input", detail, request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        # A 405 keeps the Allow header Starlette's router gives it (RFC 9110: the methods the path serves).
        return problem(exc.status_code, code, str(exc.detail), str(exc.detail), request, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        named = unavailable(exc)
        if named is not None:
            log.warning("database unavailable: %s", type(exc).__name__)
            return _essc_problem(request, named)
        log.exception("unhandled error", exc_info=exc)
        return problem(
            500, "internal_error", "Internal error", "the platform failed; quote request_id", request
        )


def _essc_problem(request: Request, exc: EsscError) -> JSONResponse:
    retry_after = exc.extensions.get("retry_after")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return problem(exc.status, exc.code, exc.title, exc.detail, request, headers=headers, **exc.extensions)
