"""The pages the service serves itself, with nothing loaded from another host: GraphiQL on
both GraphQL endpoints (the router renders `graphiql_page`), the customer's single-page app
at `/` and its page paths, and their assets. web/ builds them into web/dist (`./run` does
it when Node.js is there); without a build, the API runs and each page says how to build.

Also the SPA's two small JSON endpoints: `/web/config` (whether the demo sign-in is on)
and `/web/demo-token` (a token for the demo customer), both only meaningful while the
service signs with its generated development secret, which neither ever reveals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.staticfiles import StaticFiles

from travelbuddy.config import Settings
from travelbuddy.security import issue_token

REPOSITORY_WEB_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"
DEMO_CUSTOMER = "demo-customer"
SPA_PATHS = ("/", "/search", "/bookings", "/bookings/{booking_id}")

# Every asset name carries a hash of its content (web/build.mjs); the pages themselves
# are looked up again on every visit, so a new build shows at the next reload.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",  # the GraphQL endpoints and their websocket (CSP 3: ws: too)
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))
"""All the pages need (web/build.mjs leaves no inline script, style or data: URL, and
nothing from another host). tests/browser serve them under exactly this policy. One thing
it refuses, harmlessly: the <style> element GraphiQL's modal dialogs (settings, shortcuts)
insert to stop the page behind them from scrolling (react-remove-scroll); the dialogs work,
and the browser logs the refusal. `style-src 'self' 'unsafe-inline'` would allow it."""

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TravelBuddy: pages not built</title></head>
<body><h1>The web pages are not built</h1>
<p>GraphiQL and the TravelBuddy app are built from <code>web/</code> with Node.js:
install Node.js 18 or newer and start <code>./run</code> again (it runs <code>npm ci</code>
and <code>npm run build</code> there), or build them by hand with
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>.</p>
<p>The API works without them: POST queries to <code>/graphql</code> and mutations to
<code>/graphql/command</code> with an <code>Authorization: Bearer &lt;token&gt;</code>
header.</p></body></html>
"""


class WebSettings(BaseSettings):
    """Where the built pages are: `TRAVELBUDDY_WEB_DIR`, else the repository's web/dist."""

    model_config = SettingsConfigDict(env_prefix="TRAVELBUDDY_", extra="ignore")

    web_dir: Path = Field(REPOSITORY_WEB_DIST, description="The built web pages (web/dist).")


class WebPages:
    """The built pages in one folder: `graphiql.html`, `app.html` and `assets/`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def page(self, name: str) -> Response:
        """One of the pages, or the page saying how to build them (503)."""
        path = self.directory / f"{name}.html"
        if not path.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503,
                                headers={"Cache-Control": REVALIDATE})
        return FileResponse(path, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": REVALIDATE})


class _Assets(StaticFiles):
    """web/dist/assets, cached for good: each name changes with its content. Not built
    yet: 404, not starlette's error for a missing folder (a build may come later)."""

    async def check_config(self) -> None:
        if self.directory is not None and await anyio.to_thread.run_sync(
                Path(self.directory).is_dir):
            await super().check_config()

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def demo_sign_in_enabled(settings: Settings) -> bool:
    """True while tokens are signed with the secret the service generated for itself
    (HS256 and no `TRAVELBUDDY_JWT_SECRET`): a developer's machine, never production."""
    return settings.jwt_algorithm == "HS256" and settings.jwt_secret is None


def graphiql_page(request: Request) -> Response:
    """GraphiQL as built into web/dist, for whichever GraphQL endpoint was asked."""
    pages: WebPages = getattr(request.app.state, "web_pages", None) or WebPages(
        WebSettings().web_dir)
    return pages.page("graphiql")


def mount_web_pages(app: FastAPI, settings: Settings) -> None:
    """Serve the SPA at its paths, the assets under /assets and the SPA's JSON endpoints;
    GraphiQL's page is served by the GraphQL routers through `graphiql_page`."""
    pages = WebPages(WebSettings().web_dir)
    app.state.web_pages = pages

    async def spa(request: Request) -> Response:
        return pages.page("app")

    for path in SPA_PATHS:
        app.add_api_route(path, spa, methods=["GET"], include_in_schema=False)

    @app.get("/web/config", include_in_schema=False)
    async def web_config() -> JSONResponse:
        """What the SPA needs to know before sign-in; never a secret."""
        demo = demo_sign_in_enabled(settings)
        return JSONResponse({"demoSignIn": demo, "demoCustomer": DEMO_CUSTOMER if demo else None},
                            headers={"Cache-Control": "no-store"})

    @app.post("/web/demo-token", include_in_schema=False)
    async def demo_token() -> JSONResponse:
        """A token for the demo customer, only while the development secret signs them."""
        if not demo_sign_in_enabled(settings):
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse({"token": issue_token(settings, DEMO_CUSTOMER),
                             "customer": DEMO_CUSTOMER}, headers={"Cache-Control": "no-store"})

    app.mount("/assets", _Assets(directory=pages.directory / "assets", check_dir=False),
              name="assets")
