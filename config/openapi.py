"""Post-processing of the generated OpenAPI schema, so that it says what the server enforces."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def json_request_bodies(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Request bodies are JSON: the form parsers serve the browsable API's HTML forms only.

    A multipart or urlencoded body cannot say "not an object" or null, so documenting them would
    invite inputs that the JSON the API is for cannot express.
    """
    for item in result.get("paths", {}).values():
        for operation in item.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            content = body.get("content", {}) if body else {}
            if body and JSON in content:
                body["content"] = {JSON: content[JSON]}
    return result
