"""A night of workflows people brought: UI and API exports imported with `nightrun template
add`, jobs written by the seed's schema, broken files beside them, rendered on the emulator."""

import json
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.comfy.render_loop import upload_subfolder
from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.breakers import BreakersResource
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource, TelegramResource
from nightrun_dagster.emulator import EmulatorServer
from nightrun_dagster.intake.queue import scan_queue
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.variant_state import is_complete
from nightrun_dagster.workflows.templates import DEFAULT_WORKFLOWS_DIR
from tests.conftest import EmulatorFactory

TESTS = Path(__file__).resolve().parents[1]
UI = TESTS / "workflows" / "data" / "ui_workflows"
API = TESTS / "data" / "workflows" / "api"
JOB_SPECS = TESTS.parent / "job_specs"
NIGHT = "2026-02-09"
# template id -> (source export, the job's product images)
BROUGHT: dict[str, tuple[Path, list[str]]] = {
    "sd15_default": (UI / "default.json", []),
    "sd15_loras": (UI / "lora.json", []),
    "wan_i2v": (UI / "image_to_video_wan.json", ["product_yerba.png"]),
    "flux_dev": (API / "flux_dev.json", []),
    "sdxl_refiner": (API / "sdxl_refiner.json", []),
}
# Every model those exports name, so the emulator can run them.
MODELS = {
    "checkpoints": [
        "v1-5-pruned-emaonly-fp16.safetensors",
        "dreamshaper_8.safetensors",
        "sd_xl_refiner_1.0.safetensors",
    ],
    "loras": ["blindbox_v1_mix.safetensors", "MoXinV1.safetensors"],
    "diffusion_models": ["wan2.1_i2v_480p_14B_fp16.safetensors", "flux1-dev.safetensors"],
    "text_encoders": ["t5xxl_fp16.safetensors", "clip_l.safetensors"],
    "vae": ["ae.safetensors"],
    "clip_vision": ["clip_vision_h.safetensors"],
}


def job_for(template_id: str, product_images: list[str]) -> dict[str, Any]:
    """A job as marketing writes it from the seed's schema: the workflow path from the project
    root, no product image for a text-to-image template."""
    doc = json.loads((JOB_SPECS / "static_sdxl_ad.json").read_text())
    doc["job_id"] = f"brought-{template_id}"
    doc["assets"] = {"product_images": product_images}
    doc["generation"] = {
        "workflow": {"template_id": template_id, "workflow_path": f"workflows/{template_id}.json"},
        "seed_strategy": {"mode": "sequence", "seed_start": 7, "count": 2},
        "variants": {"prompt_variants": ["a green yerba pack, studio", "yerba pack outdoors"]},
        "max_variants": 3,
    }
    return doc


@pytest.fixture
def server(emulator_factory: EmulatorFactory) -> EmulatorServer:
    """An emulator holding every model the brought workflows name."""
    started = emulator_factory()
    for folder, names in MODELS.items():
        started.host.config.models.setdefault(folder, []).extend(names)
    return started


@pytest.fixture
def brought(
    tmp_path: Path, tree: Tree, server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> Path:
    """A workflows folder: the shipped templates, the exports imported against the server
    (UI ones converted with its /object_info), and three broken files a team might leave."""
    folder = tmp_path / "workflows"
    shutil.copytree(DEFAULT_WORKFLOWS_DIR, folder)
    for template_id, (source, images) in BROUGHT.items():
        argv = ["template", "add", str(source), "--id", template_id, "--workflows-dir", str(folder)]
        assert main([*argv, "--comfy-url", server.url]) == 0, capsys.readouterr()
        job = job_for(template_id, images)
        (tree.queue / f"{template_id}.json").write_text(json.dumps(job))
    shutil.copy(API / "img2img.json", folder / "plain_export.json")  # no metadata
    (folder / "half_saved.json").write_text('{"3": {"class_type": ')  # not JSON
    renamed = json.loads((DEFAULT_WORKFLOWS_DIR / "static_ad_v1.json").read_text())
    (folder / "static_ad_copy.json").write_text(json.dumps(renamed))  # id differs from the file
    for broken in ("plain_export", "half_saved", "static_ad_copy"):
        job = job_for(broken, [])
        (tree.queue / f"uses_{broken}.json").write_text(json.dumps(job))
    capsys.readouterr()
    return folder


def test_brought_workflows_render_a_night_beside_broken_files(
    pg_instance: dg.DagsterInstance,
    tree: Tree,
    brought: Path,
    server: EmulatorServer,
) -> None:
    nightrun = NightrunResource(
        root=str(tree.root), workflows_dir=str(brought), max_renders_per_night=40
    )
    scan = scan_queue(tree, nightrun.intake(), settle_seconds=0)
    keys = sorted(scan.valid)
    assert keys == sorted(f"brought-{t}" for t in BROUGHT)
    reasons = {r.source: " ".join(e.line() for e in r.errors) for r in scan.rejected}
    assert sorted(reasons) == [
        "uses_half_saved.json",
        "uses_plain_export.json",
        "uses_static_ad_copy.json",
    ]
    assert "plain ComfyUI export" in reasons["uses_plain_export.json"]
    assert "not valid JSON" in reasons["uses_half_saved.json"]
    assert "differs from" in reasons["uses_static_ad_copy.json"]

    pg_instance.add_dynamic_partitions("job", keys)
    resources = {
        "nightrun": nightrun,
        "comfyui": ComfyUIResource(urls=server.url, poll_s=0.2),
        "breakers": BreakersResource(),
        "telegram": TelegramResource(),
    }
    plan = dg.materialize(
        [night_plan], instance=pg_instance, partition_key=NIGHT, resources=resources
    )
    assert plan.success
    for key in keys:
        result = dg.materialize(
            [job_spec, variants, renders],
            instance=pg_instance,
            partition_key=night_job_key(NIGHT, key),
            resources=resources,
            raise_on_error=False,
        )
        assert result.success, key
        job_dir = tree.job(NIGHT, key)
        index = json.loads(job_dir.variants_index.read_bytes())
        assert index["count"] == 3
        sent = []
        for vid in index["variants"]:
            assert is_complete(job_dir, vid), (key, vid)
            params = json.loads(job_dir.params(vid).read_bytes())
            assert params["render"]["status"] == "ok"
            sent.append(json.loads((job_dir.meta(vid) / "prompt.json").read_bytes()))
        assert len({json.dumps(g, sort_keys=True) for g in sent}) == 3  # three distinct graphs
    wan = tree.job(NIGHT, "brought-wan_i2v")
    first = json.loads(wan.variants_index.read_bytes())["variants"][0]
    graph = json.loads((wan.meta(first) / "prompt.json").read_bytes())
    assert (
        graph["52"]["inputs"]["image"] == f"{upload_subfolder('brought-wan_i2v')}/product_yerba.png"
    )
    assert list(wan.out(first).glob("vid_*.mp4"))


@pytest.mark.parametrize("template_id", ["sd15_default", "sd15_loras", "wan_i2v"])
def test_graph_shows_each_variant_of_a_brought_ui_workflow(
    tree: Tree, brought: Path, capsys: pytest.CaptureFixture[str], template_id: str
) -> None:
    """`nightrun graph --all` on a job using a converted UI workflow: every variant's prompt,
    seed, steps, cfg, sampler and size are in the graph, where the roles say."""
    job = tree.queue / f"{template_id}.json"
    doc = json.loads(job.read_text())
    doc["generation"]["variants"].update({"steps": [12, 20], "cfg": [4.0, 7.5]})
    doc["generation"].pop("max_variants")
    job.write_text(json.dumps(doc))
    where = ["--workflows-dir", str(brought), "--root", str(tree.root), "--night", NIGHT]
    assert main(["expand", str(job), "--json", *where]) == 0
    planned = {v["variant_id"]: v for v in json.loads(capsys.readouterr().out)["variants"]}
    assert main(["graph", str(job), "--all", *where]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["variant"] for d in lines] == list(planned)
    assert len(planned) == 2 * 2 * 2 * 2  # prompts × seeds × steps × cfg
    meta = json.loads((brought / f"{template_id}.json").read_text())["_workflow_metadata"]
    roles, defaults = meta["nodes"], meta["defaults"]
    seen = set()
    for line in lines:
        variant, graph = planned[line["variant"]], line["graph"]
        sampler = graph[roles["sampler"]]["inputs"]
        assert (sampler["seed"], sampler["steps"], sampler["cfg"]) == (
            variant["seed"],
            variant["steps"],
            variant["cfg"],
        )
        assert graph[roles["positive"]]["inputs"]["text"].startswith(variant["prompt"])
        size = graph[roles["latent"]]["inputs"]
        assert (size["width"], size["height"]) == (defaults["width"], defaults["height"])
        seen.add((sampler["seed"], sampler["steps"], sampler["cfg"], variant["prompt"]))
    assert len(seen) == len(lines)  # every variant is a different graph
