"""ComfyUI's own example workflows (the `comfyui-workflow-templates` package of the frontend the
captures came from), imported as a team would bring them: UI format, nodes we never used."""

import json
import os
import subprocess
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from nightrun_dagster.cli.template import bundled_object_info
from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.workflows.apply import build_graph
from nightrun_dagster.workflows.compat import check_graph
from nightrun_dagster.workflows.importer import TemplateImportError, build_template
from nightrun_dagster.workflows.schemas import NodeSchemas
from nightrun_dagster.workflows.templates import load_template

# Why ComfyUI's own examples may not become templates, as the importer says it.
REFUSALS = (
    "no sampler",  # chat and vector API nodes make no picture
    "no image or video output",  # audio and 3D models
    "no prompt",  # image-conditioned only (Stable Video Diffusion, zero123, revision, depth)
    "class not on the server",  # audio nodes: the captured server had no torchaudio
    "do not match this server's",  # saved for an older version of an API node
)
# The frontend itself sends this one as the server then refuses it: the saved API node's
# values sit in the wrong slots (an older version of the node).
SENT_BROKEN = {"api_moonvalley_video_to_video_pose_control.json"}


REPO = Path(__file__).resolve().parents[2]
# A job with a product shot and an app screen, so templates that load images get both.
JOB = CreativeJob.model_validate(
    json.loads((REPO / "job_specs" / "ui_anchored_ad.json").read_text())
)
UPLOADS = {
    rel: f"nightrun_job/{Path(rel).name}"
    for rel in [*JOB.assets.product_images, *(JOB.assets.base_ui_screens or [])]
}


@cache
def catalogue() -> dict[str, Any]:
    return bundled_object_info()


def examples() -> list[Path]:
    folder = resources.files("comfyui_workflow_templates").joinpath("templates")
    found = [Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json")]
    return sorted(p for p in found if not p.name.startswith("index"))


@cache
def imported() -> dict[str, tuple[dict[str, Any] | None, str]]:
    """file name -> (template document or None, the refusal)."""
    schemas = NodeSchemas(catalogue())
    out: dict[str, tuple[dict[str, Any] | None, str]] = {}
    for path in examples():
        try:
            doc, _ = build_template(
                path.read_bytes(),
                label=path.name,
                template_id="example",
                schemas=schemas,
                ui_object_info=catalogue(),
            )
        except TemplateImportError as exc:
            out[path.name] = (None, str(exc))
            continue
        out[path.name] = (doc, "")
    return out


def test_the_corpus_is_there() -> None:
    assert len(examples()) > 150


def test_every_example_imports_or_is_refused_for_a_stated_reason() -> None:
    for name, (doc, refusal) in imported().items():
        if doc is None:
            assert any(reason in refusal for reason in REFUSALS), (name, refusal)
            assert name in refusal  # the file is named


def test_most_examples_become_templates() -> None:
    results = imported().values()
    made = sum(1 for doc, _ in results if doc is not None)
    assert made / len(results) >= 0.8, made


def test_imported_graphs_pass_the_servers_checks(tmp_path: Path) -> None:
    """What the server would say to each imported graph, and to the graph a night sends."""
    problems: dict[str, list[str]] = {}
    for name, (doc, _) in imported().items():
        if doc is None:
            continue
        path = tmp_path / "example.json"
        path.write_text(json.dumps(doc))
        template = load_template(path)
        params = {"job_key": "job", "night": "2026-02-09", "variant_id": "v0001", "seed": 12345}
        params["prompt"] = "a green yerba mate pack on a cream background"
        sent = build_graph(template, params, job=JOB, uploads=UPLOADS)
        for graph in (template.graph(), sent):
            found = [
                str(p) for p in check_graph(graph, catalogue(), {}) if p.kind != "missing_model"
            ]
            if found:
                problems.setdefault(name, []).extend(found)
    assert set(problems) <= SENT_BROKEN, {k: problems[k] for k in set(problems) - SENT_BROKEN}


def test_api_nodes_that_make_pictures_take_the_prompt_and_seed(tmp_path: Path) -> None:
    doc, refusal = imported()["api_ideogram_v3_t2i.json"]
    assert doc is not None, refusal
    meta = doc["_workflow_metadata"]
    generator = meta["nodes"]["sampler"]
    assert doc[generator]["class_type"] == "IdeogramV3"
    assert meta["prompt_inputs"]["positive"] == [[generator, "prompt"]]
    path = tmp_path / "example.json"
    path.write_text(json.dumps(doc))
    params = {"job_key": "j", "night": "2026-02-09", "variant_id": "v0002", "seed": 77}
    graph = build_graph(load_template(path), {**params, "prompt": "yerba"})
    assert graph[generator]["inputs"]["prompt"] == "yerba"
    assert graph[generator]["inputs"]["seed"] == 77


ROLES_OF_MIXING_CONTROLNETS = """
import json
from pathlib import Path
import comfyui_workflow_templates
from nightrun_dagster.cli.template import bundled_object_info
from nightrun_dagster.workflows.importer import build_template
from nightrun_dagster.workflows.schemas import NodeSchemas
path = Path(comfyui_workflow_templates.__file__).parent / "templates" / "mixing_controlnets.json"
info = bundled_object_info()
doc, _ = build_template(path.read_bytes(), label=path.name, template_id="t",
                        schemas=NodeSchemas(info), ui_object_info=info)
print(json.dumps(doc["_workflow_metadata"]["nodes"], sort_keys=True))
"""


def test_roles_do_not_depend_on_string_hashing() -> None:
    """Two chained ControlNets: the one nearest the sampler is the role, in every process
    (set iteration order changes with PYTHONHASHSEED; the inference must not follow it)."""
    found = []
    for seed in ("1", "3"):
        run = subprocess.run(
            [sys.executable, "-c", ROLES_OF_MIXING_CONTROLNETS],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        found.append(json.loads(run.stdout))
    assert found[0] == found[1]
    assert found[0]["controlnet_apply"] == "36"  # feeds the KSampler; 34 feeds it
    assert found[0]["controlnet_loader"] == "26"
