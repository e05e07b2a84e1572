"""Security headers on every HTML page the service serves (GraphiQL on GET /graphql and
/graphql/command, and any other page), and `nosniff` on every response.

Each page's Content-Security-Policy allows what that page loads and nothing else. It is
read from the page itself as it is sent (`page_policy`, cached per page), so it follows
whichever page is served: strawberry's GraphiQL from a CDN, or pages built into web/dist
(a page that sets a policy of its own keeps it, and gets the other headers):

- scripts: the page's inline scripts, each by its SHA-256, and the scripts it names, each
  by its full URL when on another host (strawberry's page: five files on unpkg.com, which
  also carry subresource integrity hashes), or 'self' when on this origin;
- styles: the style sheets it names, the same way, and inline styles: GraphiQL's dialogs
  insert style elements at run time (react-remove-scroll), which no hash can name;
- images and fonts: `data:` (the favicon, GraphiQL's icons and embedded fonts), and 'self'
  when the page loads anything from this origin (its assets);
- connections: this origin only (`'self'`: the GraphQL endpoints and their websocket);
- no frames, plugins, forms or base URL, and no page may frame it (`frame-ancestors
  'none'`, and `X-Frame-Options: DENY` for older browsers); `Referrer-Policy:
  no-referrer`, so that a GraphiQL URL with a token in `?headers=` never leaves the page.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from urllib.parse import urlparse

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_PAGE_BYTES = 1_000_000
"""Pages are read whole to find what they load; a larger one gets `FALLBACK_POLICY`."""
FALLBACK_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'none'; "
                   "form-action 'none'; frame-ancestors 'none'")
FIXED_HEADERS = [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]


class _PageSources(HTMLParser):
    """The scripts and style sheets a page loads, and the text of its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline_scripts: list[str] = []
        self.other_loads: list[str] = []  # icons and the like
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {name: value or "" for name, value in attrs}
        if tag == "script":
            if named.get("src"):
                self.scripts.append(named["src"])
            else:
                self._in_inline_script = True
                self.inline_scripts.append("")
        elif tag == "link" and named.get("href"):
            if named.get("rel") == "stylesheet":
                self.stylesheets.append(named["href"])
            else:
                self.other_loads.append(named["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts[-1] += data


def page_policy(page: str) -> str:
    """The Content-Security-Policy for an HTML page (see the module doc)."""
    sources = _PageSources()
    sources.feed(page)
    sources.close()
    hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
              for script in sources.inline_scripts if script.strip()]
    loads = [*sources.scripts, *sources.stylesheets, *sources.other_loads]
    own_assets = ["'self'"] if any(_source(url) == "'self'" for url in loads) else []
    directives = {
        "default-src": ["'none'"],
        "script-src": _unique([*hashes, *map(_source, sources.scripts)]) or ["'none'"],
        "style-src": _unique(["'unsafe-inline'", *map(_source, sources.stylesheets)]),
        "img-src": [*own_assets, "data:"],
        "font-src": [*own_assets, "data:"],
        "connect-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def _source(url: str) -> str:
    """A CSP source for a URL the page names: itself on another host, 'self' on this one
    (a relative URL; `data:` URLs load nothing)."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return url.split("#")[0]
    return "data:" if parsed.scheme == "data" else "'self'"


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class PageHeaders:
    """ASGI middleware: the security headers on HTML responses, `nosniff` on all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._policies: dict[bytes, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = [*(message.get("headers") or []),
                           (b"x-content-type-options", b"nosniff")]
                message["headers"] = headers
                if any(name.lower() == b"content-security-policy" for name, _ in headers):
                    headers.extend(FIXED_HEADERS)  # the page's own policy stands
                elif _content_type(headers).startswith(b"text/html"):
                    start = message  # sent with the policy once the page is read
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body", False) and sum(map(len, body)) <= MAX_PAGE_BYTES:
                    return
                start["headers"].extend([(b"content-security-policy", self._policy(body)),
                                         *FIXED_HEADERS])
                await send(start)
                message = {**message, "body": b"".join(body)}
                start = None
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _policy(self, body: list[bytes]) -> bytes:
        page = b"".join(body)
        if len(page) > MAX_PAGE_BYTES:
            return FALLBACK_POLICY.encode()
        key = hashlib.sha256(page).digest()
        if key not in self._policies:
            if len(self._policies) > 64:  # a few pages, each built once: never many
                self._policies.clear()
            self._policies[key] = page_policy(page.decode("utf-8", "replace"))
        return self._policies[key].encode()


def _content_type(headers: list[tuple[bytes, bytes]]) -> bytes:
    return next((value.lower() for name, value in headers if name.lower() == b"content-type"),
                b"")
