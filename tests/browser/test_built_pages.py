"""What web/build.mjs leaves in web/dist, read as files: pages that load only their own
/assets scripts and styles, with no inline script or style, and assets that name no other
host to load from, so that the pages work offline under `CONTENT_SECURITY_POLICY`."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
PAGES = ("app.html", "graphiql.html")


class _PageParts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if "style" in named or any(name.startswith("on") for name in named):
            self.inline.append(f"<{tag} {named}>")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            if named.get("src"):
                self.sources.append(str(named["src"]))
            else:
                self._in_script = True
        if tag == "link" and named.get("href"):
            self.sources.append(str(named["href"]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


@pytest.fixture(scope="module")
def dist() -> Path:
    if not (DIST / "app.html").exists():
        pytest.fail("web/dist is not built: tests/run builds it (scripts/build-web)")
    return DIST


@pytest.mark.parametrize("page", PAGES)
def test_a_page_loads_only_its_own_assets_and_has_nothing_inline(dist: Path, page: str) -> None:
    parts = _PageParts()
    parts.feed((dist / page).read_text())
    assert parts.inline == []
    assert parts.sources
    for source in parts.sources:
        assert source.startswith("/assets/"), source
        assert (dist / source.removeprefix("/")).is_file(), source


def test_no_asset_loads_from_another_host_or_a_data_url(dist: Path) -> None:
    styles = list((dist / "assets").glob("*.css"))
    assert styles
    for style in styles:
        css = style.read_text()
        assert not re.search(r"url\(\s*['\"]?(data:|https?:|//)", css), style.name
        assert "@import" not in css, style.name
    for script in (dist / "assets").glob("*.js"):
        text = script.read_text()
        assert not re.search(r"(unpkg\.com|jsdelivr\.net|cdnjs|googleapis\.com)", text), script.name
