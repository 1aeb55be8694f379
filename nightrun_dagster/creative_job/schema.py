"""The Creative Job JSON Schema, generated from the model so the two can never drift apart."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from nightrun_dagster.creative_job.model import CreativeJob

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _SeedStyleSchema(GenerateJsonSchema):
    """Writes the schema the way the seed does: optional fields are absent, never null."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        # The model rejects explicit nulls (see json_types.not_null), so null is not a valid type.
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        inner = super().default_schema(schema)
        if inner.get("default", 0) is None:
            inner.pop("default")
        return inner

    def union_schema(self, schema: core_schema.UnionSchema) -> JsonSchemaValue:
        generated = super().union_schema(schema)
        choices = generated.get("anyOf")
        if choices and all(set(c) == {"type"} and isinstance(c["type"], str) for c in choices):
            types = [c["type"] for c in choices]
            if "number" in types and "integer" in types:
                types.remove("integer")
            return {"type": types[0] if len(types) == 1 else types}
        return generated

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def creative_job_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a Creative Job, as validated by `CreativeJob`."""
    body = CreativeJob.model_json_schema(by_alias=True, schema_generator=_SeedStyleSchema)
    return {"$schema": SCHEMA_DIALECT, **body}


def render_schema() -> str:
    return json.dumps(creative_job_json_schema(), indent=2, ensure_ascii=False) + "\n"
