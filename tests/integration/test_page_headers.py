"""Security headers on every HTML page (GraphiQL on both endpoints), a Content-Security-
Policy that allows what the page loads and nothing else, and FastAPI's own pages off
unless a setting turns them on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from strawberry.http.ides import get_graphql_ide_html

from tests.auth import bearer
from travelbuddy.graphql.page_headers import PageHeaders, _PageSources, page_policy


@pytest.fixture
def backend() -> str:
    """Headers do not depend on the stores: the embedded default is enough."""
    return "embedded"


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("endpoint", ["/graphql", "/graphql/command"])
async def test_graphiql_pages_carry_the_security_headers(
    http: httpx.AsyncClient, endpoint: str
) -> None:
    page = await http.get(endpoint, headers={"Accept": "text/html"})

    assert page.status_code in (200, 503), page.text  # 503: the page saying how to build
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = directives(page.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]


@pytest.mark.parametrize("endpoint", ["/graphql", "/graphql/command"])
async def test_the_policy_allows_each_script_and_style_sheet_the_served_page_loads(
    http: httpx.AsyncClient, endpoint: str
) -> None:
    page = await http.get(endpoint, headers={"Accept": "text/html"})
    policy = directives(page.headers["content-security-policy"])
    sources = _PageSources()
    sources.feed(page.text)

    for script in sources.scripts:
        assert (script if "://" in script else "'self'") in policy["script-src"], script
    for sheet in sources.stylesheets:
        assert (sheet if "://" in sheet else "'self'") in policy["style-src"], sheet
    assert "'unsafe-eval'" not in policy["script-src"]
    assert "*" not in " ".join(value for values in policy.values() for value in values)


def test_strawberrys_cdn_page_gets_exactly_what_it_loads() -> None:
    """strawberry's GraphiQL page (the one served until the built pages replace it):
    its inline script by hash, its five scripts and two style sheets by full URL."""
    page = get_graphql_ide_html("graphiql")

    policy = directives(page_policy(page))

    assert policy["default-src"] == ["'none'"]
    hashes = [value for value in policy["script-src"] if value.startswith("'sha256-")]
    assert len(hashes) == 1
    assert [value for value in policy["script-src"] if value not in hashes] == [
        "https://unpkg.com/react@18.2.0/umd/react.production.min.js",
        "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js",
        "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js",
        "https://unpkg.com/graphiql@3.8.3/graphiql.min.js",
        "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js",
    ]
    assert policy["style-src"] == [
        "'unsafe-inline'",  # the page's <style>, and the style elements GraphiQL inserts
        "https://unpkg.com/graphiql@3.8.3/graphiql.min.css",
        "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css",
    ]
    assert policy["img-src"] == ["data:"] and policy["font-src"] == ["data:"]
    assert policy["connect-src"] == ["'self'"]


def test_an_inline_script_is_allowed_by_its_hash_and_no_other() -> None:
    page = "<html><head><script>console.log('hello')</script></head></html>"

    policy = directives(page_policy(page))

    # sha256 of "console.log('hello')", base64 (`openssl dgst -sha256 -binary | base64`)
    assert policy["script-src"] == ["'sha256-RiiZMt4WBEeSYPAXi7o6X3AZ0TOyY+/BOcmhjYVr6/E='"]


async def test_a_page_that_sets_its_own_policy_keeps_it() -> None:
    async def page(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/html"), (b"content-security-policy", b"default-src 'self'")]})
        await send({"type": "http.response.body", "body": b"<html></html>"})

    transport = httpx.ASGITransport(app=PageHeaders(page))
    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as http:
        answer = await http.get("/")

    assert answer.headers.get_list("content-security-policy") == ["default-src 'self'"]
    assert answer.headers["x-frame-options"] == "DENY"


async def test_json_answers_carry_nosniff_and_no_page_policy(http: httpx.AsyncClient) -> None:
    answer = await http.post("/graphql/command", json={"query": "{ schemaVersion }"},
                             headers=bearer("alice"))

    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in answer.headers


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_fastapis_own_pages_are_off_by_default(client: Any, path: str) -> None:
    assert (await client().get(path)).status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_fastapis_own_pages_can_be_turned_on(client: Any, path: str) -> None:
    response = await client(api_docs=True).get(path)

    assert response.status_code == 200
    if path != "/openapi.json":
        assert response.headers["x-frame-options"] == "DENY"  # an HTML page like any other
