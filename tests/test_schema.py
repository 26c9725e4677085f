"""The OpenAPI 3 schema at /api/schema/ is valid and documents the API.md contract."""

import json

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_schema_is_valid_openapi_3(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    spec = json.loads(response.content)
    assert spec["openapi"].startswith("3.")
    validate(spec)
    paths = spec["paths"]
    assert "/api/v1/tokens/" in paths and "/api/v1/runs/{id}/" in paths
    bearer = spec["components"]["securitySchemes"]["BearerToken"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")


def test_schema_generates_without_warnings(tmp_path, capsys):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    assert yaml.safe_load(out.read_text())["info"]["title"] == "TokenLedger API"


def test_docs_page_served_locally(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in response.content
    assert b"cdn.jsdelivr" not in response.content
