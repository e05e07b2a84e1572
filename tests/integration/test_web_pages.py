"""The pages the service serves itself (travelbuddy/web.py), on a folder laid out as
web/build.mjs writes it: GraphiQL on both GraphQL endpoints instead of strawberry's CDN
page, the SPA at its paths, assets cached for good, the page that says how to build when
nothing is built, and the demo sign-in only with the generated development secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.auth import TEST_JWT_SECRET
from travelbuddy.app import create_app
from travelbuddy.config import Settings
from travelbuddy.security import TokenVerifier


@pytest.fixture
def built(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "graphiql.html").write_text("<!doctype html><title>GraphiQL here</title>")
    (dist / "app.html").write_text("<!doctype html><title>the SPA</title>")
    (dist / "assets" / "app-ABC123.js").write_text("console.log('app')")
    return dist


@asynccontextmanager
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, its services (embedded, in a temporary folder) started."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        yield http


@pytest.fixture
async def pages(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                ) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("TRAVELBUDDY_WEB_DIR", str(built))
    async with client(Settings(data_dir=tmp_path / "data", jwt_secret=TEST_JWT_SECRET)) as http:
        yield http


@pytest.mark.parametrize("endpoint", ["/graphql", "/graphql/command"])
async def test_graphiql_on_both_endpoints_is_the_locally_built_page(
    pages: httpx.AsyncClient, endpoint: str,
) -> None:
    page = await pages.get(endpoint, headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "GraphiQL here" in page.text
    assert "unpkg.com" not in page.text
    assert page.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/", "/search", "/bookings", "/bookings/b-123"])
async def test_the_spa_answers_at_each_of_its_paths(pages: httpx.AsyncClient, path: str) -> None:
    page = await pages.get(path)
    assert page.status_code == 200
    assert "the SPA" in page.text
    assert page.headers["content-type"].startswith("text/html")


async def test_assets_are_cached_for_good_and_unknown_ones_are_not_found(
    pages: httpx.AsyncClient,
) -> None:
    asset = await pages.get("/assets/app-ABC123.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    assert (await pages.get("/assets/missing.js")).status_code == 404


async def test_without_a_build_the_pages_say_how_to_build_and_the_api_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRAVELBUDDY_WEB_DIR", str(tmp_path / "never-built"))
    async with client(Settings(data_dir=tmp_path / "data", jwt_secret=TEST_JWT_SECRET)) as http:
        for path in ("/", "/graphql"):
            page = await http.get(path, headers={"accept": "text/html"})
            assert page.status_code == 503
            assert "npm run build" in page.text
        assert (await http.get("/assets/app.js")).status_code == 404
        assert (await http.get("/healthz")).status_code == 200


async def test_demo_sign_in_is_offered_only_with_the_generated_development_secret(
    tmp_path: Path,
) -> None:
    generated = Settings(data_dir=tmp_path / "data", jwt_secret=None)
    async with client(generated) as http:
        assert (await http.get("/web/config")).json() == {"demoSignIn": True,
                                                          "demoCustomer": "demo-customer"}
        answer = (await http.post("/web/demo-token")).json()
    assert TokenVerifier.from_settings(generated).verify(answer["token"]).customer_id == \
        "demo-customer"
    assert "jwt-secret" not in str(answer)

    configured = Settings(data_dir=tmp_path / "data", jwt_secret=TEST_JWT_SECRET)
    async with client(configured) as http:
        assert (await http.get("/web/config")).json() == {"demoSignIn": False,
                                                          "demoCustomer": None}
        assert (await http.post("/web/demo-token")).status_code == 404
