"""The OpenAPI pieces that every app's endpoints declare alike: query parameters, the job in a path, HAL links."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


def query_param(name: str, schema: dict | type | OpenApiTypes, description: str) -> OpenApiParameter:
    """An optional query parameter with its JSON Schema (bounds, formats), as the server checks it."""
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, required=False, description=description)


JOB_ID = OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Job UUID or natural ID")


class HrefSerializer(serializers.Serializer):
    href = serializers.CharField()


class ListLinksSerializer(serializers.Serializer):
    """A HAL list's `_links` (core.params.hal_list)."""

    self = HrefSerializer()
    next = HrefSerializer(required=False)
    prev = HrefSerializer(required=False)
