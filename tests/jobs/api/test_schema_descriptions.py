"""Every property of a job, its schedule, request, steps, their settings and its success rule is described in
/api/schema/, and the request shapes refuse other properties as the API does."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

DESCRIBED = (
    *("Job", "JobChange", "Schedule", "Retry", "SuccessRule", "Retention", "Anomaly", "AnomalyInForce"),
    *("Request", "Step", "StepConfig"),
    *("CalendarLink", "CalendarInput", "Calendar", "Holidays", "Window", "After"),
)


@pytest.fixture(scope="module")
def components() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]


def _shapes(components: dict) -> list[str]:
    names = []
    for base in DESCRIBED:
        names += [name for name in (base, f"{base}Request", f"Patched{base}Request") if name in components]
    return names


def test_every_property_of_the_job_shapes_has_a_description(components):
    shapes = _shapes(components)
    assert {"Job", "JobRequest", "PatchedJobChangeRequest", "StepConfigRequest", "SuccessRuleRequest"} <= set(shapes)
    undescribed = [
        f"{shape}.{name}"
        for shape in shapes
        for name, spec in components[shape].get("properties", {}).items()
        if not (spec.get("description") or "").strip()
    ]
    assert undescribed == []


def test_the_job_request_shapes_refuse_other_properties(components):
    requests = [
        name for base in DESCRIBED for name in (f"{base}Request", f"Patched{base}Request") if name in components
    ]
    assert "JobRequest" in requests
    for shape in requests:
        assert components[shape]["additionalProperties"] is False, shape
