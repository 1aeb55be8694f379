"""Whether a job's sweep fits its template: refused at intake in the template's terms."""

import json
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.workflows.fit import fit_problems
from nightrun_dagster.workflows.templates import (
    DEFAULT_WORKFLOWS_DIR,
    Template,
    load_templates,
)
from tests.workflows.conftest import api_workflow, import_api_graph

REPO = Path(__file__).resolve().parents[2]
SHIPPED = load_templates(DEFAULT_WORKFLOWS_DIR)


def job(**variants: Any) -> CreativeJob:
    doc = json.loads((REPO / "job_specs" / "static_sdxl_ad.json").read_text())
    doc["generation"]["variants"] = {"prompt_variants": ["a pack"], **variants}
    return CreativeJob.model_validate(doc)


def imported(tmp_path: Path, name: str, edit: Any = None) -> Template:
    graph = api_workflow(name)
    if edit:
        edit(graph)
    return import_api_graph(graph, name, tmp_path)


def fields(problems: list[tuple[str, str]]) -> dict[str, str]:
    return dict(problems)


def test_a_sweep_that_fits_has_no_problems() -> None:
    assert (
        fit_problems(job(steps=[20, 28], cfg=[5.0], samplers=["euler_a"]), SHIPPED["static_ad_v1"])
        == []
    )


def test_negative_variants_need_a_negative_prompt(tmp_path: Path) -> None:
    found = fields(fit_problems(job(negative_variants=["blurry"]), imported(tmp_path, "flux_dev")))
    assert "no negative prompt" in found["generation.variants.negative_variants"]


def test_the_same_sampler_twice_is_refused() -> None:
    found = fields(fit_problems(job(samplers=["euler_a", "Euler a"]), SHIPPED["static_ad_v1"]))
    assert "same sampler as samplers[0]" in found["generation.variants.samplers[1]"]


@pytest.mark.parametrize(
    ("sweep", "field", "reason"),
    [
        ({"samplers": ["warp_drive"]}, "generation.variants.samplers[0]", "unknown sampler"),
        (
            {"controlnet": [{"type": "canny", "weights": [0.5]}]},
            "generation.variants.controlnet",
            "no ControlNet node",
        ),
        ({"denoise": [0.5]}, "generation.variants.denoise", "has no denoise"),
    ],
)
def test_sweeps_without_a_node_to_go_to(
    tmp_path: Path, sweep: dict[str, Any], field: str, reason: str
) -> None:
    found = fields(fit_problems(job(**sweep), imported(tmp_path, "sdxl_refiner")))
    assert reason in found[field]


def test_a_controlnet_type_against_the_templates_own_model(tmp_path: Path) -> None:
    def own_model(graph: dict[str, Any]) -> None:
        graph["30"] = {
            "class_type": "ControlNetLoader",
            "inputs": {"control_net_name": "control_v11p_sd15_depth.pth"},
        }
        graph["31"] = {"class_type": "LoadImage", "inputs": {"image": "pose.png"}}
        graph["32"] = {
            "class_type": "ControlNetApplyAdvanced",
            "inputs": {
                "positive": ["6", 0],
                "negative": ["7", 0],
                "control_net": ["30", 0],
                "image": ["31", 0],
                "strength": 0.8,
                "start_percent": 0.0,
                "end_percent": 1.0,
            },
        }
        graph["3"]["inputs"].update(positive=["32", 0], negative=["32", 1])

    template = imported(tmp_path, "hires_fix", own_model)
    canny = job(controlnet=[{"type": "canny", "weights": [0.5]}])
    found = fields(fit_problems(canny, template))
    assert "loads the depth ControlNet" in found["generation.variants.controlnet[0].type"]
    depth = job(controlnet=[{"type": "depth", "weights": [0.5, 0.9]}])
    assert fit_problems(depth, template) == []
