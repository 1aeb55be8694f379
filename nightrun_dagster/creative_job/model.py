"""The Creative Job model: pydantic v2, equal to the seed's JSON Schema v1 (draft 2020-12).

Parity rules: unknown keys are allowed (the schema has no `additionalProperties: false`), JSON
types are matched exactly (no string-to-number coercion, booleans are not numbers, 1.0 is an
integer), optional fields may be omitted but never set to null.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictBool, StrictStr

from nightrun_dagster.creative_job.json_types import json_integer, json_number, not_null

Integer = Annotated[int, Strict(False), BeforeValidator(json_integer)]
Number = Annotated[int | float, BeforeValidator(json_number)]
NotNull = BeforeValidator(not_null)


class SpecModel(BaseModel):
    model_config = ConfigDict(
        extra="allow", strict=True, validate_by_alias=True, validate_by_name=False
    )


Objective = Literal["awareness", "traffic", "leads", "sales", "retargeting"]
Platform = Literal["instagram", "facebook"]
Format = Literal["feed_1x1", "feed_4x5", "story_9x16", "reel_9x16", "carousel_4x5"]
Deliverable = Literal["image", "video"]
SeedMode = Literal["fixed", "random", "sequence"]
ControlNetType = Literal["canny", "depth", "lineart", "tile", "pose"]


class Product(SpecModel):
    sku: StrictStr
    name: StrictStr
    brand: StrictStr
    category: Annotated[StrictStr | None, NotNull] = None
    price: Annotated[Number | StrictStr | None, NotNull] = None
    brand_colors: Annotated[
        list[Annotated[StrictStr, Field(description="HEX")]] | None, NotNull
    ] = None
    fonts: Annotated[list[StrictStr] | None, NotNull] = None


class Goal(SpecModel):
    objective: Objective
    offer: Annotated[StrictStr | None, NotNull] = None
    cta: Annotated[StrictStr | None, NotNull] = None
    constraints: Annotated[list[StrictStr] | None, NotNull] = None


class PlatformTarget(SpecModel):
    platform: Platform
    format: Format
    deliverable: Annotated[Deliverable | None, NotNull] = None


class Assets(SpecModel):
    product_images: list[StrictStr]
    base_ui_screens: Annotated[list[StrictStr] | None, NotNull] = None
    masks: Annotated[list[StrictStr] | None, NotNull] = None
    style_refs: Annotated[list[StrictStr] | None, NotNull] = None
    logo: Annotated[StrictStr | None, NotNull] = None


class Copy(SpecModel):
    headline: StrictStr
    subheadline: StrictStr
    hashtags: Annotated[list[StrictStr] | None, NotNull] = None
    language: Annotated[StrictStr, NotNull] = "es-AR"


class Workflow(SpecModel):
    template_id: StrictStr
    workflow_path: StrictStr
    inputs_map: Annotated[
        dict[str, Any] | None,
        NotNull,
        Field(description="Mapping from job fields -> ComfyUI node inputs"),
    ] = None


class SeedStrategy(SpecModel):
    mode: SeedMode
    seed: Annotated[Integer | None, NotNull] = None
    seed_start: Annotated[Integer | None, NotNull] = None
    count: Annotated[Integer | None, NotNull] = None


class Lora(SpecModel):
    name: StrictStr
    path: StrictStr
    weights: Annotated[list[Number] | None, NotNull] = None
    on_off: Annotated[StrictBool, NotNull] = True


class ControlNet(SpecModel):
    type: ControlNetType
    weights: list[Number]


class Variants(SpecModel):
    prompt_variants: Annotated[list[StrictStr] | None, NotNull] = None
    negative_variants: Annotated[list[StrictStr] | None, NotNull] = None
    loras: Annotated[list[Lora] | None, NotNull] = None
    samplers: Annotated[list[StrictStr] | None, NotNull] = None
    steps: Annotated[list[Integer] | None, NotNull] = None
    cfg: Annotated[list[Number] | None, NotNull] = None
    denoise: Annotated[list[Number] | None, NotNull] = None
    controlnet: Annotated[list[ControlNet] | None, NotNull] = None


class Generation(SpecModel):
    workflow: Workflow
    seed_strategy: SeedStrategy
    variants: Variants


class CreativeJob(SpecModel):
    """One creative job: a product, a goal, target placements, assets, copy and a sweep."""

    model_config = ConfigDict(title="CreativeJob")

    job_id: StrictStr
    created_at: Annotated[StrictStr, Field(description="ISO-8601")]
    priority: Annotated[
        int, Strict(False), Field(ge=0, le=100), BeforeValidator(json_integer), NotNull
    ] = 50
    product: Product
    goal: Goal
    platforms: list[PlatformTarget]
    assets: Assets
    copy_: Annotated[Copy, Field(alias="copy")]
    generation: Generation
