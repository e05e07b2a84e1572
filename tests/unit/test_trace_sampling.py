"""Which traces the service records: a share by trace id, never a bare client call."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind

from travelbuddy.observability.tracing import _sampled_share, _ServiceRoots

LOW_ID, HIGH_ID = 1, (1 << 64) - 1  # a ratio sampler keeps trace ids below share * 2**64


@pytest.mark.parametrize(("sampler", "arg", "share"), [
    (None, None, 1.0),
    ("parentbased_traceidratio", "0.1", 0.1),
    ("traceidratio", "0.25", 0.25),
    ("parentbased_traceidratio", "7", 1.0),
    ("parentbased_traceidratio", "-1", 0.0),
    ("parentbased_traceidratio", "a tenth", 1.0),
    ("always_off", "0.1", 1.0),  # only the ratio samplers read the argument
])
def test_the_share_comes_from_the_standard_sampler_variables(
    monkeypatch: pytest.MonkeyPatch, sampler: str | None, arg: str | None, share: float
) -> None:
    for name, value in (("OTEL_TRACES_SAMPLER", sampler), ("OTEL_TRACES_SAMPLER_ARG", arg)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert _sampled_share() == share


def decision(sampler: _ServiceRoots, trace_id: int, kind: SpanKind) -> Decision:
    return sampler.should_sample(None, trace_id, "POST /graphql", kind).decision


def test_a_share_of_the_service_roots_is_recorded_by_trace_id() -> None:
    tenth = _ServiceRoots(0.1)
    assert decision(tenth, LOW_ID, SpanKind.SERVER) is Decision.RECORD_AND_SAMPLE
    assert decision(tenth, HIGH_ID, SpanKind.SERVER) is Decision.DROP
    assert decision(_ServiceRoots(), HIGH_ID, SpanKind.INTERNAL) is Decision.RECORD_AND_SAMPLE


def test_a_client_call_outside_the_services_operations_is_never_recorded() -> None:
    assert decision(_ServiceRoots(), LOW_ID, SpanKind.CLIENT) is Decision.DROP
