"""Reading /metrics in tests: one scrape as {(sample name, labels): value}, parsed with
prometheus_client's own parser, and what moved between two scrapes."""

from __future__ import annotations

from typing import TypeAlias

import httpx
from prometheus_client.parser import text_string_to_metric_families

SampleKey: TypeAlias = tuple[str, frozenset[tuple[str, str]]]
Scrape: TypeAlias = dict[SampleKey, float]


def key(name: str, **labels: str) -> SampleKey:
    return name, frozenset(labels.items())


async def scrape(http: httpx.AsyncClient, url: str = "/metrics") -> Scrape:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        key(sample.name, **sample.labels): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(scraped: Scrape, name: str, **labels: str) -> float | None:
    return scraped.get(key(name, **labels))


def moved(before: Scrape, after: Scrape, names: set[str]) -> dict[SampleKey, float]:
    """Every sample of the metrics `names` whose value changed, by how much."""
    changes = {}
    for sample in before.keys() | after.keys():
        if sample[0] in names:
            change = after.get(sample, 0.0) - before.get(sample, 0.0)
            if change:
                changes[sample] = change
    return changes
