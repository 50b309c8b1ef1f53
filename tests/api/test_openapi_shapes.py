"""Every JSON route publishes the real shape of what it answers in /openapi.json, so
clients (and the fuzz run) know each field; only card documents and downloads are
free-form."""

from __future__ import annotations

from typing import Any

from personae.app import create_app

# Answers whose shape is not ours to fix: a download in the format asked for.
FREE_FORM = {("get", "/api/v1/characters/{ref}/export")}


def _typed(schema: dict[str, Any]) -> bool:
    if "$ref" in schema or "properties" in schema or "anyOf" in schema:
        return True
    if schema.get("type") == "array":
        return _typed(schema.get("items", {}))
    # A mapping whose values have a declared shape (a card document's free-form object
    # says additionalProperties: true, which is declared too).
    return "additionalProperties" in schema


def test_every_json_answer_has_a_declared_shape() -> None:
    spec = create_app().openapi()
    untyped = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (method, path) in FREE_FORM:
                continue
            for code, response in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                content = response.get("content", {})
                json_body = content.get("application/json")
                if json_body is None:
                    # Images and streams declare their media type instead.
                    if not content:
                        untyped.append((method, path, code, "no declared body"))
                    continue
                if not _typed(json_body.get("schema", {})):
                    untyped.append((method, path, code, json_body.get("schema")))
    assert untyped == []


def test_errors_are_documented_with_their_envelope() -> None:
    spec = create_app().openapi()
    responses = spec["paths"]["/api/v1/characters"]["post"]["responses"]
    for code in ("401", "409", "422"):
        schema = responses[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    assert "code" in str(spec["components"]["schemas"]["Error"])
