"""OpenAPI schema, Swagger UI served without a CDN, and the browsable API after a session login."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_schema_describes_every_operation_with_problem_errors(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "/api/jobs/{id}/history" in paths
    assert "/api/jobs/{id}/history/{historyId}" in paths
    operations = [op for item in paths.values() for op in item.values() if isinstance(op, dict) and "responses" in op]
    assert len(operations) >= 20
    for operation in operations:
        # prunner's dialect answers its own {"error": "..."} as plain JSON (tests/history/dialects checks that shape).
        media = "application/json" if operation["operationId"].startswith("prunner_") else "application/problem+json"
        for code in ("401", "404"):
            assert media in operation["responses"][code]["content"], operation["operationId"]
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "hg_<prefix>_<secret>",
    }
    item = schema["components"]["schemas"]["HistoryItem"]["properties"]
    assert list(item)[:9] == [
        "id",
        "jobId",
        "ownerId",
        "success",
        "warnings",
        "duration",
        "data",
        "progress",
        "createdAt",
    ]


def test_swagger_ui_is_served_from_the_sidecar(api, settings):
    html = api.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html


def test_the_browsable_api_works_after_login(client, viewer, job):
    assert client.get("/api-auth/login/").status_code == 200
    client.force_login(viewer)
    response = client.get("/api/jobs", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "nightly-report" in response.content.decode()
    response = client.get(f"/api/jobs/{job.pk}/history/00000000-0000-0000-0000-000000000000", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_api_root_links_the_collections(as_user, viewer):
    links = as_user(viewer).get("/api/").json()["_links"]
    assert links["jobs"]["href"] == "/api/jobs"
    assert links["docs"]["href"] == "/api/docs/"
