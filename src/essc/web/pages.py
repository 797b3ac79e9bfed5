"""A newcomer's first pages: the landing page at `/` and the API docs at `/docs`, served by the platform.

The docs page loads Swagger UI's scripts and styles from `/docs/assets`, the files of the
`swagger-ui-bundle-v2` package (Swagger UI 5, Apache-2.0, which reads OpenAPI 3.1), so it works on a
machine without internet access, where a CDN-hosted page stays blank. ReDoc has no such package and is
not offered.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS = "/docs"
ASSETS = f"{DOCS}/assets"

_LINKS = (
    (DOCS, "API documentation", "every operation, its statuses and codes; try it in the browser"),
    ("/openapi.json", "OpenAPI 3.1 document", "generate a client from it"),
    ("/channel-apps", "Authorised channel apps", "the public list of channel apps in force, per province"),
    ("/v1/public/channel-apps", "Authorised channel apps (JSON)", "the same list for programs"),
    ("/v1/platform/keys", "Platform keys", "the keys that sign answers and webhooks, and the envelope keys"),
    ("/healthz", "Health", "the process answers"),
    ("/readyz", "Readiness", "the database, the nonce store and the key store answer"),
)


def _landing(title: str) -> str:
    items = "".join(
        f'<li><a href="{href}">{escape(name)}</a> <span>{escape(what)}</span></li>'
        for href, name, what in _LINKS
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:0 auto;max-width:48rem;padding:1rem;"
        "line-height:1.5}span{color:#444}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        "<p>电子社保卡 platform: e-cards, QR codes and channel apps for the national social security "
        "card.</p>"
        f"<ul>{items}</ul>"
        "<p>Signing requests, envelopes and every error code are described in <code>docs/protocol.md</code> "
        "of the source repository.</p></main></body></html>"
    )


def install_pages(app: FastAPI) -> None:
    """Serve `/`, `/docs` and the docs page's assets (the app is built with docs_url=None)."""
    title = f"{app.title} {app.version}"
    landing = _landing(title)

    async def index(_request: Request) -> Response:
        return HTMLResponse(landing)

    async def docs(_request: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} - API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )

    app.add_route("/", index, include_in_schema=False)
    app.add_route(DOCS, docs, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
