"""`nightrun graph`: the graphs the render loop would POST, for the variants `expand` shows."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.comfy.client import input_ref
from nightrun_dagster.comfy.render_loop import upload_subfolder
from nightrun_dagster.defs.assets.rendering import make_run
from nightrun_dagster.defs.resources import ComfyUIResource
from nightrun_dagster.emulator import EmulatorServer
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.intake.validate import Intake, ValidJob, validate_file
from nightrun_dagster.plan.inputs import load_snapshot, snapshot_inputs
from nightrun_dagster.plan.variants import write_variants
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.variant_state import PROMPT
from nightrun_dagster.workflows.apply import DEGRADE_LADDER, build_graph
from nightrun_dagster.workflows.samplers import resolve_sampler

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "job_specs"
STATIC = JOBS / "static_sdxl_ad.json"  # 800 variants on a Monday; no LoadImage
UI = JOBS / "ui_anchored_ad.json"  # loads a product shot and a UI screen
NIGHT = "2026-02-09"  # a Monday: exploration


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """Runs `nightrun …` with a temporary artifact root and the example assets."""

    def run(*args: str) -> tuple[int, str, str]:
        where = ["--root", str(tmp_path / "night-runs"), "--assets-root", str(JOBS / "assets")]
        code = main([*args, *where])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def graphs(out: str) -> dict[str, dict[str, Any]]:
    """variant id -> graph, from the command's JSON lines (each line must parse alone)."""
    docs = [json.loads(line) for line in out.splitlines()]
    assert all(set(d) == {"variant", "graph"} for d in docs)
    return {d["variant"]: d["graph"] for d in docs}


def expanded(cli: Any, job: Path, *args: str) -> list[dict[str, Any]]:
    code, out, _ = cli("expand", str(job), "--night", NIGHT, "--json", *args)
    assert code == 0
    return json.loads(out)["variants"]


def of_class(graph: dict[str, Any], class_type: str) -> list[dict[str, Any]]:
    return [n for n in graph.values() if n.get("class_type") == class_type]


def found(job: Path) -> ValidJob:
    return validate_file(job, Intake(assets_root=JOBS / "assets"))


def test_first_variant_is_build_graph_of_the_planned_params(cli: Any, tmp_path: Path) -> None:
    code, out, err = cli("graph", str(STATIC), "--night", NIGHT)
    assert code == 0 and err == ""
    got = graphs(out)
    assert list(got) == ["v0001"]
    # What the variants asset writes for the night, read back as the render loop reads it.
    job = found(STATIC)
    expansion = expand_job(job.job, RunMode.exploration, NIGHT, job.cap, job.template.defaults)
    assert [v.as_dict() for v in expansion.variants] == expanded(cli, STATIC)
    job_dir = Tree(tmp_path / "planned").job(NIGHT, job.key)
    write_variants(job, expansion, job_dir)
    params = json.loads(job_dir.params("v0001").read_bytes())
    assert params["template"]["sha256"] == job.template.sha256 and params["night"] == NIGHT
    want = build_graph(job.template, params, job=job.job, uploads={}, degrade=DEGRADE_LADDER[0])
    assert got["v0001"] == want


def test_each_variant_gets_its_own_prompt_seed_sampler_steps_cfg_and_size(cli: Any) -> None:
    code, out, _ = cli("graph", str(STATIC), "--night", NIGHT, "--all")
    assert code == 0
    got = graphs(out)
    variants = expanded(cli, STATIC)
    first, last = variants[0], variants[-1]
    # The example job's product order puts its extremes at both ends: every axis differs.
    for axis in ("prompt", "seed", "sampler", "steps", "cfg"):
        assert first[axis] != last[axis], axis
    template = found(STATIC).template
    defaults = template.defaults
    (planned,) = of_class(template.graph(), "KSampler")
    for v in (first, last):
        graph = got[v["variant_id"]]
        (sampler,) = of_class(graph, "KSampler")
        inputs = sampler["inputs"]
        choice = resolve_sampler(v["sampler"], planned["inputs"]["scheduler"])
        assert inputs["seed"] == v["seed"]
        assert inputs["steps"] == v["steps"]
        assert inputs["cfg"] == v["cfg"]
        assert (inputs["sampler_name"], inputs["scheduler"]) == (
            choice.sampler_name,
            choice.scheduler,
        )
        positive = graph[inputs["positive"][0]]["inputs"]["text"]
        assert positive.startswith(v["prompt"] + ", ad copy: ")
        negative = graph[inputs["negative"][0]]["inputs"]["text"]
        assert negative == v["negative"]
        latent = graph[inputs["latent_image"][0]]["inputs"]
        assert (latent["width"], latent["height"]) == (defaults["width"], defaults["height"])
        # A LoRA arm that is on is a LoraLoader in the chain; off, none.
        lora_on = any(a["enabled"] for a in v["loras"])
        assert bool(of_class(graph, "LoraLoader")) == lora_on
    assert any(a["enabled"] for a in last["loras"]) != any(a["enabled"] for a in first["loras"])


def test_all_prints_one_line_per_expanded_variant(cli: Any) -> None:
    for job in (STATIC, UI):
        code, out, _ = cli("graph", str(job), "--night", NIGHT, "--all")
        assert code == 0
        got = graphs(out)
        ids = [v["variant_id"] for v in expanded(cli, job)]
        assert len(out.splitlines()) == len(ids) and list(got) == ids


def test_all_follows_the_mode_like_expand(cli: Any) -> None:
    code, out, _ = cli("graph", str(STATIC), "--night", NIGHT, "--all", "--mode", "exploitation")
    assert code == 0
    ids = [v["variant_id"] for v in expanded(cli, STATIC, "--mode", "exploitation")]
    assert list(graphs(out)) == ids and 0 < len(ids) < 800
    code, out, err = cli("graph", str(STATIC), "--night", NIGHT, "--all", "--mode", "maintenance")
    assert code == 0 and out == ""
    assert "no variants for night 2026-02-09 in maintenance mode" in err


def test_variant_picks_that_one(cli: Any) -> None:
    code, out, _ = cli("graph", str(STATIC), "--night", NIGHT, "--variant", "v0800")
    assert code == 0
    got = graphs(out)
    assert list(got) == ["v0800"]
    v800 = expanded(cli, STATIC)[-1]
    (sampler,) = of_class(got["v0800"], "KSampler")
    assert sampler["inputs"]["seed"] == v800["seed"] and sampler["inputs"]["steps"] == 28
    _, everything, _ = cli("graph", str(STATIC), "--night", NIGHT, "--all")
    assert got["v0800"] == graphs(everything)["v0800"]


def test_load_image_gets_the_name_the_upload_will_have(cli: Any) -> None:
    code, out, _ = cli("graph", str(UI), "--night", NIGHT)
    assert code == 0
    (graph,) = graphs(out).values()
    job = found(UI)
    loaded = {n["inputs"]["image"] for n in of_class(graph, "LoadImage")}
    # The renders asset uploads into the job's own subfolder under the file's own name.
    sub = upload_subfolder(job.key)
    assert sub == f"nightrun_{job.key}"
    product = Path(job.job.assets.product_images[0]).name
    screen = Path(job.job.assets.base_ui_screens[0]).name
    assert loaded == {f"{sub}/{product}", f"{sub}/{screen}"}
    # What the client hands back for a server echo {"name": …, "subfolder": …}.
    assert input_ref(product, sub) in loaded


def test_assets_found_beside_the_job_like_expand(tmp_path: Path, capsys: Any) -> None:
    # No --assets-root: job_specs/assets holds the UI job's product shot and screen.
    args = ["--root", str(tmp_path / "empty-root"), "--night", NIGHT]
    assert main(["expand", str(UI), *args]) == 0
    capsys.readouterr()
    assert main(["graph", str(UI), *args]) == 0
    assert list(graphs(capsys.readouterr().out)) == ["v0001"]


def test_unknown_variant_exits_2_listing_the_range(cli: Any) -> None:
    code, out, err = cli("graph", str(STATIC), "--night", NIGHT, "--variant", "v0999")
    assert code == 2 and out == ""
    assert (
        "no variant v0999; this job has 800 variants for night 2026-02-09 "
        "in exploration mode (v0001…v0800)"
    ) in err
    assert "Traceback" not in err


def test_bad_night_exits_2(cli: Any) -> None:
    code, out, err = cli("graph", str(STATIC), "--night", "2026-13-40")
    assert code == 2 and out == ""
    assert err.startswith("--night: ") and "2026-13-40" in err and "2026-02-09" in err
    assert "Traceback" not in err


def test_invalid_job_prints_validation_lines_and_exits_1(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"job_id": 5}')
    code, out, err = cli("graph", str(bad))
    assert code == 1 and out == ""
    assert f"{bad}: job_id: must be a string" in err
    assert f"{bad}: product: required field is missing\n" in err
    _, _, expand_err = cli("expand", str(bad))
    assert err == expand_err  # the same lines as `nightrun expand`
    missing = tmp_path / "nope.json"
    code, _, err = cli("graph", str(missing))
    assert code == 1 and str(missing) in err and "Traceback" not in err


def test_params_that_do_not_fit_the_template_exit_1_naming_it(cli: Any, tmp_path: Path) -> None:
    # The headline mapped onto a node the template does not have: valid JSON, schema-valid,
    # but no graph can be built, so validation refuses it, naming the entry and the template.
    doc = json.loads(STATIC.read_text())
    doc["generation"]["workflow"]["inputs_map"] = {"copy.headline": "99.text"}
    job = tmp_path / "job.json"
    job.write_text(json.dumps(doc))
    code, out, err = cli("graph", str(job), "--night", NIGHT)
    assert code == 1 and out == ""
    assert err == (
        f"""{job}: generation.workflow.inputs_map["copy.headline"]: target '99.text': """
        "no node or role '99' in static_ad_v1 (template static_ad_v1)\n"
    )


def test_graph_is_what_the_renders_loop_posts(
    tree: Tree, emulator: EmulatorServer, cli: Any
) -> None:
    # Plan the UI job as job_spec and variants do, render two variants with the renders
    # asset's own RenderRun on the emulator, and compare each prompt.json it sent.
    intake = Intake(assets_root=tree.assets)
    job = validate_file(UI, intake)
    job_dir = tree.job(NIGHT, job.key)
    snapshot_inputs(job, tree.assets, job_dir)
    job = load_snapshot(job_dir, intake)
    expansion = expand_job(job.job, RunMode.exploration, NIGHT, job.cap, job.template.defaults)
    write_variants(job, expansion, job_dir)
    ids = ["v0001", "v0002"]
    comfyui = ComfyUIResource(urls=emulator.url, unavailable_timeout_s=5)
    report = asyncio.run(make_run(job, job_dir, ids, comfyui).run())
    assert report.rendered == 2 and not report.failed
    for vid in ids:
        code, out, _ = cli("graph", str(UI), "--night", NIGHT, "--variant", vid)
        assert code == 0
        sent = json.loads((job_dir.meta(vid) / PROMPT).read_bytes())
        assert graphs(out)[vid] == sent


def test_a_planned_night_shows_its_own_variants_not_a_fresh_expansion(tree: Tree, cli: Any) -> None:
    # The night's budget planned 5 of the 800 variants a fresh expansion lists: the night
    # numbers its 5 v0001…v0005, so its v0002 is another combination than expand's v0002.
    intake = Intake(assets_root=tree.assets)
    job = validate_file(STATIC, intake)
    job_dir = tree.job(NIGHT, job.key)
    snapshot_inputs(job, tree.assets, job_dir)
    job = load_snapshot(job_dir, intake)
    defaults = job.template.defaults
    planned = expand_job(job.job, RunMode.exploration, NIGHT, 5, defaults)
    write_variants(job, planned, job_dir)
    fresh = expand_job(job.job, RunMode.exploration, NIGHT, job.cap, defaults)
    assert planned.variants[1].as_dict() != fresh.variants[1].as_dict()

    code, out, err = cli("graph", str(STATIC), "--night", NIGHT, "--variant", "v0002")
    assert code == 0
    params = json.loads(job_dir.params("v0002").read_bytes())
    want = build_graph(job.template, params, job=job.job, uploads={}, degrade=DEGRADE_LADDER[0])
    assert graphs(out) == {"v0002": want}
    sampler = of_class(want, "KSampler")[0]["inputs"]
    assert (sampler["seed"], sampler["steps"]) == (params["seed"], params["steps"])
    assert err == (
        f"{STATIC}: using the variants planned for night {NIGHT} in {job_dir.variants}\n"
    )
    code, out, _ = cli("graph", str(STATIC), "--night", NIGHT, "--all")
    assert code == 0 and list(graphs(out)) == [f"v000{i}" for i in range(1, 6)]
    # Ids the plan does not have are refused with the plan's range, not expand's.
    code, out, err = cli("graph", str(STATIC), "--night", NIGHT, "--variant", "v0006")
    assert code == 2 and out == ""
    assert "no variant v0006; this job has 5 variants planned for night " in err
    assert "(v0001…v0005)" in err


def test_a_night_not_planned_expands_as_expand_does(tree: Tree, cli: Any) -> None:
    # Another night of the same root was planned; this one was not: expand afresh, silently.
    intake = Intake(assets_root=tree.assets)
    job = validate_file(STATIC, intake)
    other = tree.job("2026-02-10", job.key)
    snapshot_inputs(job, tree.assets, other)
    defaults = job.template.defaults
    planned = expand_job(job.job, RunMode.exploration, "2026-02-10", 5, defaults)
    write_variants(job, planned, other)
    code, out, err = cli("graph", str(STATIC), "--night", NIGHT, "--variant", "v0002")
    assert code == 0 and err == ""
    fresh = expand_job(job.job, RunMode.exploration, NIGHT, job.cap, defaults)
    assert (planned.variants[1].seed, planned.variants[1].steps) != (
        fresh.variants[1].seed,
        fresh.variants[1].steps,
    )
    sampler = of_class(graphs(out)["v0002"], "KSampler")[0]["inputs"]
    assert sampler["seed"] == fresh.variants[1].seed
    assert sampler["steps"] == fresh.variants[1].steps


def test_a_planned_night_asked_in_another_mode_says_it_expands_afresh(tree: Tree, cli: Any) -> None:
    intake = Intake(assets_root=tree.assets)
    job = validate_file(STATIC, intake)
    job_dir = tree.job(NIGHT, job.key)
    snapshot_inputs(job, tree.assets, job_dir)
    planned = expand_job(job.job, RunMode.exploration, NIGHT, 5, job.template.defaults)
    write_variants(job, planned, job_dir)
    code, out, err = cli("graph", str(STATIC), "--night", NIGHT, "--mode", "exploitation")
    assert code == 0 and list(graphs(out)) == ["v0001"]
    assert f"night {NIGHT} was planned in exploration mode" in err
    assert "not what the night renders" in err
